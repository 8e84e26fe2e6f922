/**
 * Subscriptions. Each one is a bounded buffer fed by the chat's shared tail of the log
 * (chat-tail.ts: stored events from the revision, then live ones, no gap or duplicate at the
 * seam; one store read per append however many subscribe) and, for chatStream, by the
 * ephemeral pubsub.
 */
import { invalidInput } from '../../commands/errors.ts'
import { requireChatAccess, requireMembership, requirePrincipal } from '../identity/permissions.ts'
import { boundedIterator, type BoundedSource } from '../live/bounded.ts'
import { followChat } from './chat-tail.ts'
import type { ChatChange } from './chat-changes.ts'
import type { ApiContext } from './context.ts'
import type { EphemeralItem } from '../live/ephemeral.ts'
import { chatOwnership } from './read-models.ts'

/** Close code for a subscriber whose buffer overflowed (4000–4999 are the application's). */
export const SLOW_SUBSCRIBER_CLOSE_CODE = 4008

function closeSlowClient(ctx: ApiContext) {
  const socket = ctx.socket
  if (!socket) return
  socket.close(SLOW_SUBSCRIBER_CLOSE_CODE, 'subscriber too slow')
  // A client that does not read cannot take the close frame either: drop it after a grace period.
  setTimeout(() => socket.terminate(), 1000).unref()
}

async function readableChatFrom(ctx: ApiContext, args: { chatId: string; fromRevision?: number | null }) {
  const principal = requirePrincipal(ctx.principal)
  requireChatAccess(principal, await chatOwnership(ctx.api.db, ctx.api.store, args.chatId), 'read')
  const from = args.fromRevision ?? 0
  if (!Number.isInteger(from) || from < 0) throw invalidInput(`fromRevision must be 0 or more; got ${from}`)
  return BigInt(from)
}

function bounded<T>(ctx: ApiContext, start: (source: BoundedSource<T>) => () => void) {
  return boundedIterator<T>({
    capacity: ctx.api.subscriptionBuffer,
    slowAfterMs: ctx.api.slowSubscriberMs,
    start,
    onOverflow() {
      closeSlowClient(ctx)
    },
  })
}

/** One view per item, shared by every subscriber it reaches, so its result is executed once (shared-execution.ts). */
const ephemeralViews = new WeakMap<EphemeralItem, object>()

function ephemeralView(item: EphemeralItem): object {
  let view = ephemeralViews.get(item)
  if (!view) {
    view = item.kind === 'StatusChanged' ? { __typename: item.kind, ...item, status: item.status.toUpperCase() } : { __typename: item.kind, ...item }
    ephemeralViews.set(item, view)
  }
  return view
}

export const subscriptionResolvers = {
  chatEvents: {
    async subscribe(_root: unknown, args: { chatId: string; fromRevision?: number | null }, ctx: ApiContext) {
      const fromRevision = await readableChatFrom(ctx, args)
      return bounded(ctx, (source) => followChat(ctx.api.store, args.chatId, fromRevision, source, (e) => e.view))
    },
  },

  chatStream: {
    async subscribe(_root: unknown, args: { chatId: string; fromRevision?: number | null }, ctx: ApiContext) {
      const fromRevision = await readableChatFrom(ctx, args)
      return bounded<object>(ctx, (source) => {
        const stopEphemeral = ctx.api.ephemeral.listenEphemeral(args.chatId, (item) => void source.push(ephemeralView(item)))
        const stopLog = followChat<object>(ctx.api.store, args.chatId, fromRevision, source, (e) => e.item)
        return () => {
          stopEphemeral()
          stopLog()
        }
      })
    },
  },

  myChats: {
    async subscribe(_root: unknown, args: { includeSubAgents?: boolean | null }, ctx: ApiContext) {
      const principal = requirePrincipal(ctx.principal)
      requireMembership(principal)
      let target: BoundedSource<ChatChange> | null = null
      // Listening starts before the subscription answers, so no change after it is missed.
      // Root chats only unless asked, as `chats` lists them.
      const stop = await ctx.api.chatChanges.listen(principal, (change) => {
        if (args.includeSubAgents || change.chat.parentChatId === null) void target?.push(change)
      })
      return bounded<ChatChange>(ctx, (source) => {
        target = source
        return stop
      })
    },
  },
}
