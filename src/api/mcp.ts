/** GraphQL for MCP servers: admins configure them; chat owners turn DEFAULT_ON / DEFAULT_OFF ones on or off per chat. */
import { randomUUID } from 'node:crypto'
import { chatDecider } from '../../commands/chat/decide.ts'
import { CommandError, invalidInput } from '../../commands/errors.ts'
import { handleCommand, writerFor } from '../../commands/handler.ts'
import type { ChatState } from '../events/chat-state.ts'
import { chatStream } from '../events/chat.ts'
import type { McpServerSettings } from '../events/config.ts'
import { chatNotFound, requireChatAccess, requirePrincipal } from '../identity/permissions.ts'
import type { McpServerAdmin, McpServerInput } from '../mcp/admin.ts'
import { mcpServerEnabled, mcpServerOffered } from '../mcp/rules.ts'
import { requireAdmin, eventMetadata, type ApiContext } from './context.ts'
import { chatOwnership, isUuid, loadChat, type ChatView } from './read-models.ts'

/** What the MCP resolvers need beside the API's services (absent: the fields answer NOT_FOUND). */
export interface McpApi {
  admin: McpServerAdmin
  lastError(serverId: string): string | null
}

const graphEnum = (v: string) => v.toUpperCase().replace(/-/g, '_')
const fromGraphEnum = (v: string) => v.toLowerCase().replace(/_/g, '-')

function services(ctx: ApiContext, mcp: McpApi | undefined) {
  if (!ctx.api.config || !mcp) throw new CommandError('NOT_FOUND', 'MCP servers are not available on this server')
  return { config: ctx.api.config, mcp }
}

function serverView(s: McpServerSettings, mcp: McpApi) {
  return {
    id: s.serverId,
    url: s.url,
    transport: graphEnum(s.transport),
    auth: {
      kind: graphEnum(s.auth.kind),
      tokenFingerprint: s.auth.kind === 'bearer' ? s.auth.tokenFingerprint : null,
      headers: s.auth.kind === 'headers' ? s.auth.headers : [],
    },
    availability: graphEnum(s.availability),
    allowTools: s.allowTools,
    denyTools: s.denyTools,
    allowInPlanMode: s.allowInPlanMode,
    allowInSubAgents: s.allowInSubAgents,
    lastError: mcp.lastError(s.serverId),
  }
}

/** The write side's view of the chat (the read model keeps no toggles). */
const chatState = async (ctx: ApiContext, chatId: string): Promise<ChatState> => (await writerFor(ctx.api.store).current(chatStream(chatId), chatDecider)).state

function chatServers(servers: Record<string, McpServerSettings>, chat: ChatState) {
  return Object.values(servers).map((s) => ({
    id: s.serverId,
    availability: graphEnum(s.availability),
    enabled: mcpServerEnabled(s, chat.mcpServers),
    offered: mcpServerOffered(s, chat),
  }))
}

type Resolver<A> = (root: unknown, args: A, ctx: ApiContext) => Promise<unknown>

interface McpServerGraphInput extends Omit<McpServerInput, 'transport' | 'availability' | 'auth' | 'allowTools' | 'denyTools'> {
  transport?: string | null
  availability?: string | null
  auth?: { kind: string; token?: string | null; headers?: { name: string; value?: string | null }[] | null } | null
  allowTools?: string[] | null
  denyTools?: string[] | null
}

export function mcpApiResolvers(mcp: McpApi | undefined) {
  const Query: Record<string, Resolver<any>> = {
    async mcpServers(_root, _args, ctx) {
      requireAdmin(ctx)
      const s = services(ctx, mcp)
      return Object.values((await s.config.current()).mcpServers).map((server) => serverView(server, s.mcp))
    },
  }
  const Mutation: Record<string, Resolver<any>> = {
    async configureMcpServer(_root, { input }: { input: McpServerGraphInput }, ctx) {
      const principal = requireAdmin(ctx)
      const s = services(ctx, mcp)
      const settings = await s.mcp.admin.configure(
        {
          id: input.id,
          url: input.url,
          transport: fromGraphEnum(input.transport ?? 'STREAMABLE_HTTP'),
          auth: { ...(input.auth ?? { kind: 'NONE' }), kind: fromGraphEnum(input.auth?.kind ?? 'NONE') },
          availability: fromGraphEnum(input.availability ?? 'DEFAULT_ON'),
          allowTools: input.allowTools ?? [],
          denyTools: input.denyTools ?? [],
          allowInPlanMode: input.allowInPlanMode ?? false,
          allowInSubAgents: input.allowInSubAgents ?? false,
        },
        eventMetadata(ctx, principal, randomUUID()),
      )
      return serverView(settings, s.mcp)
    },
    async removeMcpServer(_root, { id }: { id: string }, ctx) {
      const principal = requireAdmin(ctx)
      await services(ctx, mcp).mcp.admin.remove(id, eventMetadata(ctx, principal, randomUUID()))
      return id
    },
    /** Owner permission like setPlanMode; unknown and FORCE_ON servers are refused before anything is appended. */
    async setChatMcpServer(_root, args: { chatId: string; serverId: string; enabled: boolean }, ctx) {
      const principal = requirePrincipal(ctx.principal)
      if (!isUuid(args.chatId)) throw chatNotFound()
      requireChatAccess(principal, await chatOwnership(ctx.api.db, ctx.api.store, args.chatId), 'change')
      const servers = (await services(ctx, mcp).config.current()).mcpServers
      const server = servers[args.serverId]
      if (!server) throw invalidInput(`there is no MCP server ${args.serverId}; the servers are: ${Object.keys(servers).join(', ') || '(none configured)'}`)
      if (server.availability === 'force-on') throw invalidInput(`MCP server ${args.serverId} is on in every chat (FORCE_ON); only an admin can change that`)
      const commandId = randomUUID()
      const outcome = await handleCommand(
        ctx.api.store,
        chatStream(args.chatId),
        chatDecider,
        { type: 'SetChatMcpServer', serverId: args.serverId, enabled: args.enabled },
        { commandId, metadata: eventMetadata(ctx, principal, commandId) },
      )
      if (outcome.result) await ctx.api.engine.waitForPosition('chats', outcome.result.checkpoint, ctx.api.readYourWriteTimeoutMs)
      const chat = await loadChat(ctx.api.db, args.chatId)
      if (!chat) throw chatNotFound()
      return chat
    },
  }
  const Chat: Record<string, Resolver<any>> = {
    async mcpServers(chat, _args, ctx) {
      if (!ctx.api.config || !mcp) return []
      const config = await ctx.api.config.current()
      // No servers (the usual case): nothing to fold the chat's stream for, per listed chat.
      if (Object.keys(config.mcpServers).length === 0) return []
      return chatServers(config.mcpServers, await chatState(ctx, (chat as ChatView).id))
    },
  }
  return { Query, Mutation, Chat }
}
