/** GraphQL for chat debug logs (src/debuglog/): the admin switch, the user's own toggle, and the reading. */
import { randomUUID } from 'node:crypto'
import { invalidInput } from '../../commands/errors.ts'
import { handleCommand } from '../../commands/handler.ts'
import { userDecider } from '../../commands/user/decide.ts'
import { DEFAULT_DEBUG_LOG_RETENTION_DAYS } from '../../commands/config/decide.ts'
import { chatDebugLogPage } from '../debuglog/store.ts'
import { userStream } from '../events/user.ts'
import { requireChatDebugLogAccess, requirePrincipal } from '../identity/permissions.ts'
import { requireAdmin, configService, eventMetadata, type ApiContext } from './context.ts'
import { chatOwnership, pageSize } from './read-models.ts'

type Resolver<A> = (root: unknown, args: A, ctx: ApiContext) => Promise<unknown>

async function myToggle(ctx: ApiContext, userId: string): Promise<boolean> {
  const rows = await ctx.api.db.query<{ enabled: boolean }>('select chat_debug_logging as enabled from users where id = $1', [userId])
  return rows[0]?.enabled ?? false
}

export const debugLogQueryResolvers: Record<string, Resolver<any>> = {
  async chatDebugLogging(_root, _args, ctx) {
    requireAdmin(ctx)
    return (await configService(ctx).current()).debugLogging
  },
  async myChatDebugLogging(_root, _args, ctx) {
    return myToggle(ctx, requirePrincipal(ctx.principal).userId)
  },
  async chatDebugLog(_root, args: { chatId: string; first?: number | null; after?: string | null }, ctx) {
    const principal = requirePrincipal(ctx.principal)
    requireChatDebugLogAccess(principal, await chatOwnership(ctx.api.db, ctx.api.store, args.chatId))
    if (args.after != null && !/^\d{1,18}$/.test(args.after)) throw invalidInput(`after is a cursor from this connection; got ${JSON.stringify(args.after)}`)
    const page = await chatDebugLogPage(ctx.api.db, args.chatId, pageSize(args.first, 20), args.after ?? null)
    const nodes = page.rows.map((r) => ({ ...r, startedAt: r.startedAt.toISOString(), createdAt: r.createdAt.toISOString() }))
    return {
      nodes,
      edges: nodes.map((node) => ({ cursor: node.id, node })),
      pageInfo: { hasNextPage: page.hasNextPage, endCursor: nodes.at(-1)?.id ?? null },
    }
  },
}

export const debugLogMutationResolvers: Record<string, Resolver<any>> = {
  async setChatDebugLogging(_root, args: { enabled: boolean; retentionDays?: number | null }, ctx) {
    const principal = requireAdmin(ctx)
    const config = configService(ctx)
    const retentionDays = args.retentionDays ?? (await config.current()).debugLogging.retentionDays ?? DEFAULT_DEBUG_LOG_RETENTION_DAYS
    const state = await config.execute({ type: 'SetDebugLogging', enabled: args.enabled, retentionDays }, eventMetadata(ctx, principal, randomUUID()))
    return state.debugLogging
  },
  async setMyChatDebugLogging(_root, args: { enabled: boolean }, ctx) {
    const principal = requirePrincipal(ctx.principal)
    const commandId = randomUUID()
    const outcome = await handleCommand(ctx.api.store, userStream(principal.userId), userDecider, { type: 'SetChatDebugLogging', enabled: args.enabled }, {
      commandId,
      metadata: eventMetadata(ctx, principal, commandId),
    })
    // The runner reads the toggle from the users read model: answer once it holds the change.
    if (outcome.result) await ctx.api.engine.waitForPosition('users', outcome.result.checkpoint, ctx.api.readYourWriteTimeoutMs)
    return myToggle(ctx, principal.userId)
  },
}
