import { CommandError } from '../../commands/errors.ts'
import {
  addCost,
  addUsage,
  applyHistoryChanges,
  emptyHistory,
  evolveChatRow,
  ZERO_USAGE,
  type ChatHistory,
  type ChatRow,
} from '../../projections/chat-row.ts'
import { chatStream, type ChatEvent, type TokenUsage } from '../events/chat.ts'
import { upcast, type Stored } from '../events/index.ts'
import { StreamNotFoundError, type EventStore, type StoredEvent } from '../eventstore/types.ts'
import { chatNotFound } from '../identity/permissions.ts'

/** The chat read model as it stood right after one revision. */
export interface ChatAsOf {
  row: ChatRow
  history: ChatHistory
  /** A fork's totals up to its cut (its row counts only its own steps, as in the read model). */
  inherited: { usage: TokenUsage; costUsd: number } | null
}

/** The revisions a chat can be asked about: its own, from its first event (after a fork's cut) to its head. */
export interface ChatRevisionRange {
  first: number
  last: number
  forkOf: { chatId: string; revision: number } | null
}

export async function chatRevisionRange(store: EventStore, chatId: string): Promise<ChatRevisionRange> {
  const info = await store.streamInfo(chatStream(chatId))
  if (!info) throw chatNotFound()
  const forkOf = info.forkOf ? { chatId: info.forkOf.stream.slice('chat-'.length), revision: Number(info.forkOf.revision) } : null
  return { first: forkOf ? forkOf.revision + 1 : 0, last: Number(info.revision), forkOf }
}

/** `REVISION_OUT_OF_RANGE` with the range the chat has, and where a fork's earlier revisions live. */
export function requireRevisionInRange(chatId: string, range: ChatRevisionRange, revision: number, name: string): void {
  if (Number.isInteger(revision) && revision >= range.first && revision <= range.last) return
  const inherited = range.forkOf && Number.isInteger(revision) && revision >= 0 && revision < range.first
  throw new CommandError(
    'REVISION_OUT_OF_RANGE',
    `chat ${chatId} has revisions ${range.first}..${range.last}; ${name} ${revision} is out of range` +
      (inherited ? ` (revisions up to ${range.forkOf!.revision} belong to chat ${range.forkOf!.chatId}, which this chat was forked from)` : ''),
    { firstRevision: range.first, lastRevision: range.last },
  )
}

/** The chat's events 0..revision, a fork's inherited ones included (the store walks the fork chain). */
export async function chatEventsThrough(store: EventStore, chatId: string, revision: number): Promise<StoredEvent[]> {
  try {
    return await store.readStream(chatStream(chatId), { maxCount: revision + 1 })
  } catch (err) {
    if (err instanceof StreamNotFoundError) throw chatNotFound()
    throw err
  }
}

/**
 * Folds a chat's events with the read model's own functions (`evolveChatRow`,
 * `applyHistoryChanges`). At each `ChatForked` the row starts over from the event, as the
 * projection's does; the messages and attachments so far become the inherited history and the
 * totals so far the inherited totals — what the read side resolves through the fork pointer.
 */
export function foldChatAsOf(events: readonly StoredEvent[]): ChatAsOf {
  let row: ChatRow | null = null
  let history = emptyHistory()
  let inherited = null as ChatAsOf['inherited']
  for (const raw of events) {
    const event = upcast(raw) as Stored<ChatEvent>
    if (event.type === 'ChatForked' && row) {
      const before: ChatAsOf['inherited'] = inherited
      inherited = { usage: addUsage(before?.usage ?? ZERO_USAGE, row.usage), costUsd: addCost(before?.costUsd ?? 0, row.costUsd) }
      for (const m of history.messages) m.inherited = true
      history = { messages: history.messages, queue: [], attachmentIds: history.attachmentIds }
    }
    const next = evolveChatRow(row, event, row)
    row = next.row
    applyHistoryChanges(history, next.changes)
  }
  if (!row) throw chatNotFound()
  for (const m of history.messages) m.chatId = row.id
  return { row, history, inherited }
}

/** The chat as it stood right after `revision`; out-of-range revisions are REVISION_OUT_OF_RANGE. */
export async function chatAsOf(store: EventStore, chatId: string, revision: number): Promise<ChatAsOf> {
  requireRevisionInRange(chatId, await chatRevisionRange(store, chatId), revision, 'asOfRevision')
  return foldChatAsOf(await chatEventsThrough(store, chatId, revision))
}
