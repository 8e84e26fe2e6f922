/** Query resolvers: read models only, every one through the rules in src/identity/permissions.ts. */
import { chatStream } from '../events/chat.ts'
import { StreamNotFoundError } from '../eventstore/types.ts'
import { invalidInput } from '../../commands/errors.ts'
import { canConfigure, chatListOwnerScope, chatNotFound, requireAuditLog, requireChatAccess, requirePrincipal } from '../identity/permissions.ts'
import { chatContextView, chatMessagesAsOf, chatViewAsOf } from './as-of.ts'
import type { ApiContext } from './context.ts'
import { membershipsOf } from './organizations.ts'
import { chatOwnership, chatQueue, eventView, listChats, listMessages, loadChat, pageSize, type ChatView } from './read-models.ts'

async function readableChat(ctx: ApiContext, chatId: string) {
  const principal = requirePrincipal(ctx.principal)
  requireChatAccess(principal, await chatOwnership(ctx.api.db, ctx.api.store, chatId), 'read')
  return principal
}

/**
 * A chat the log has (its owner was found there) but the read model not yet: written a moment ago,
 * perhaps by another process. Looks again each time the read model reaches the log's head (which
 * an open transaction elsewhere can hold back: then again after a pause), for as long as a mutation
 * waits for its own write.
 */
async function loadChatOnceProjected(ctx: ApiContext, chatId: string): Promise<ChatView | null> {
  const { db, store, engine, readYourWriteTimeoutMs } = ctx.api
  const deadline = Date.now() + readYourWriteTimeoutMs
  for (let pause = 0; ; pause = Math.min(Math.max(2 * pause, 5), 200)) {
    if (pause) await new Promise((resolve) => setTimeout(resolve, pause))
    await engine.waitForPosition('chats', await store.headCheckpoint(), Math.max(1, deadline - Date.now()))
    const chat = await loadChat(db, chatId)
    if (chat || Date.now() >= deadline) return chat
  }
}

export const queryResolvers = {
  async me(_root: unknown, _args: unknown, ctx: ApiContext) {
    const p = requirePrincipal(ctx.principal)
    return {
      id: p.userId,
      email: p.email,
      name: p.name,
      role: p.role?.toUpperCase() ?? null,
      organizationId: p.organizationId,
      agentsAccess: p.agentsAccess,
      canConfigureInstance: canConfigure(p),
      organizations: () => membershipsOf(ctx, p),
    }
  },

  async chat(_root: unknown, args: { id: string; asOfRevision?: number | null }, ctx: ApiContext) {
    await readableChat(ctx, args.id)
    if (args.asOfRevision != null) return chatViewAsOf(ctx, args.id, args.asOfRevision)
    const chat = (await loadChat(ctx.api.db, args.id)) ?? (await loadChatOnceProjected(ctx, args.id))
    if (!chat) throw chatNotFound()
    return chat
  },

  async chats(
    _root: unknown,
    args: {
      filter?: {
        archived?: boolean | null
        status?: string | null
        ownerId?: string | null
        titleContains?: string | null
        forkOf?: string | null
        includeSubAgents?: boolean | null
        parentChatId?: string | null
      } | null
      first?: number | null
      after?: string | null
    },
    ctx: ApiContext,
  ) {
    const p = requirePrincipal(ctx.principal)
    const filter = args.filter ?? {}
    return listChats(ctx.api.db, {
      organizationId: p.organizationId,
      ownerId: chatListOwnerScope(p, filter.ownerId),
      archived: filter.archived,
      status: filter.status,
      titleContains: filter.titleContains,
      forkOf: filter.forkOf,
      includeSubAgents: filter.includeSubAgents,
      parentChatId: filter.parentChatId,
      first: pageSize(args.first, 20),
      after: args.after,
    })
  },

  async chatMessages(_root: unknown, args: { chatId: string; asOfRevision?: number | null; first?: number | null; after?: string | null }, ctx: ApiContext) {
    await readableChat(ctx, args.chatId)
    if (args.asOfRevision != null) return chatMessagesAsOf(ctx, args.chatId, args.asOfRevision, pageSize(args.first, 50), args.after)
    return listMessages(ctx.api.db, args.chatId, pageSize(args.first, 50), args.after)
  },

  /** Readable by whoever may read the chat: its owner, auditors and admins (src/identity/permissions.ts). */
  async chatContext(_root: unknown, args: { chatId: string; atRevision: number }, ctx: ApiContext) {
    await readableChat(ctx, args.chatId)
    return chatContextView(ctx, args.chatId, args.atRevision)
  },

  async chatEvents(_root: unknown, args: { chatId: string; fromRevision?: number | null; limit?: number | null }, ctx: ApiContext) {
    await readableChat(ctx, args.chatId)
    const from = args.fromRevision ?? 0
    if (!Number.isInteger(from) || from < 0) throw invalidInput(`fromRevision must be 0 or more; got ${from}`)
    try {
      const events = await ctx.api.store.readStream(chatStream(args.chatId), { fromRevision: BigInt(from), maxCount: pageSize(args.limit, 100) })
      return events.map(eventView)
    } catch (err) {
      if (err instanceof StreamNotFoundError) throw chatNotFound()
      throw err
    }
  },
}

export const chatFieldResolvers = {
  queue: (chat: ChatView, _args: unknown, ctx: ApiContext) => chat.queueAsOf ?? chatQueue(ctx.api.db, chat.id),
}
