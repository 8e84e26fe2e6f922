/** Chats as of a revision and the model context of a step: folded from the log (src/asof/), not read models. */
import { CommandError } from '../../commands/errors.ts'
import { chatAsOf } from '../asof/chat-as-of.ts'
import { chatContextAt } from '../asof/chat-context.ts'
import type { ApiContext } from './context.ts'
import { chatViewOf, decodeCursor, messagePage, queueView, type ChatView, type MessageView } from './read-models.ts'

const iso = (d: Date) => d.toISOString()

export async function chatViewAsOf(ctx: ApiContext, chatId: string, revision: number): Promise<ChatView> {
  const { row, history, inherited } = await chatAsOf(ctx.api.store, chatId, revision, ctx.api.chatFolds)
  return { ...chatViewOf(row, history.queue.length, inherited), queueAsOf: history.queue.map((q, i) => queueView(q, i)) }
}

export async function chatMessagesAsOf(ctx: ApiContext, chatId: string, revision: number, first: number, after: string | null | undefined) {
  const { history } = await chatAsOf(ctx.api.store, chatId, revision, ctx.api.chatFolds)
  const cursor = decodeCursor(after, 1)
  const from = cursor ? Number(cursor[0]) : -1
  const views = history.messages
    .filter((m) => m.revision > from)
    .slice(0, first + 1)
    .map(
      (m): MessageView => ({
        id: m.id,
        chatId: m.chatId,
        revision: m.revision,
        role: m.role,
        parts: m.parts,
        usage: m.usage,
        costUsd: m.costUsd,
        compacted: m.compacted,
        inherited: m.inherited,
        createdAt: iso(m.createdAt),
      }),
    )
  return messagePage(views, first)
}

export async function chatContextView(ctx: ApiContext, chatId: string, atRevision: number) {
  const { config, tools, loadAttachment } = ctx.api
  if (!config || !tools || !loadAttachment) throw new CommandError('NOT_FOUND', 'this server runs no agent, so it has no model context to rebuild')
  return chatContextAt({ store: ctx.api.store, config, tools, loadAttachment }, chatId, atRevision)
}
