/**
 * The sub-agent tree on `Chat`: `parent`, `root` and `children`, as mercurius loaders, so a list
 * of chats costs one query per field rather than one per chat. A chat the caller may not read
 * (src/identity/permissions.ts) is left out, exactly as if it did not exist.
 */
import { canReadChat } from '../identity/permissions.ts'
import type { ApiContext } from './context.ts'
import { childChats, chatsById, type ChatView } from './read-models.ts'

type Query = { obj: ChatView }

const readable = (ctx: ApiContext, chat: ChatView | null | undefined): ChatView | null =>
  chat && ctx.principal && canReadChat(ctx.principal, chat) ? chat : null

/** One lookup by id for every chat of the batch; null where there is no id. */
async function byId(queries: Query[], ctx: ApiContext, idOf: (chat: ChatView) => string | null): Promise<(ChatView | null)[]> {
  const ids = queries.map((q) => idOf(q.obj))
  const found = await chatsById(ctx.api.db, ids.filter((id): id is string => id !== null))
  return ids.map((id) => (id === null ? null : readable(ctx, found.get(id))))
}

export const chatTreeLoaders = {
  Chat: {
    parent: (queries: Query[], ctx: ApiContext) => byId(queries, ctx, (c) => c.parentChatId),
    /** Null for a root chat; a child made without a root id belongs to its parent's tree. */
    root: (queries: Query[], ctx: ApiContext) => byId(queries, ctx, (c) => (c.parentChatId === null ? null : (c.rootChatId ?? c.parentChatId))),
    async children(queries: Query[], ctx: ApiContext) {
      const found = await childChats(ctx.api.db, queries.map((q) => q.obj.id))
      return queries.map((q) => (found.get(q.obj.id) ?? []).filter((c) => readable(ctx, c)))
    },
  },
}
