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
import { upcast, type Folded } from '../events/index.ts'
import { StreamNotFoundError, type EventStore, type FoldEvent, type StoredEvent } from '../eventstore/types.ts'
import { chatNotFound } from '../identity/permissions.ts'
import type { ChatFold, ChatFoldMemo, FoldCheckpoint } from './fold-memo.ts'

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
export async function chatEventsThrough(store: EventStore, chatId: string, revision: number, from = 0): Promise<StoredEvent[]> {
  try {
    return await store.readStream(chatStream(chatId), { fromRevision: BigInt(from), maxCount: revision - from + 1 })
  } catch (err) {
    if (err instanceof StreamNotFoundError) throw chatNotFound()
    throw err
  }
}

/** The chat's events from..revision as a fold reads them, a page at a time. */
async function* chatEventPages(store: EventStore, chatId: string, revision: number, from: number): AsyncGenerator<FoldEvent[]> {
  try {
    yield* store.readStreamForFold(chatStream(chatId), { fromRevision: BigInt(from), maxCount: revision - from + 1 })
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
export function foldChatAsOf(events: readonly FoldEvent[]): ChatAsOf {
  const fold = emptyFold()
  for (const event of events) foldEvent(fold, event)
  return resultOf(fold)
}

const emptyFold = (): ChatFold => ({ row: null, history: emptyHistory(), inherited: null })

function foldEvent(fold: ChatFold, raw: FoldEvent): void {
  const event = upcast(raw) as Folded<ChatEvent>
  const { row } = fold
  if (event.type === 'ChatForked' && row) {
    const before = fold.inherited
    fold.inherited = { usage: addUsage(before?.usage ?? ZERO_USAGE, row.usage), costUsd: addCost(before?.costUsd ?? 0, row.costUsd) }
    // New message rows rather than edited ones: a memoized fold may hold these.
    const messages = fold.history.messages.map((m) => (m.inherited ? m : { ...m, inherited: true }))
    fold.history = { messages, queue: [], attachmentIds: fold.history.attachmentIds }
  }
  const next = evolveChatRow(row, event, row)
  fold.row = next.row
  applyHistoryChanges(fold.history, next.changes)
}

/**
 * The answer, in arrays of its own (a memo keeps copies). Its rows may be the memo's, which are
 * frozen: read them, or copy them to change them.
 */
function resultOf({ row, history, inherited }: ChatFold): ChatAsOf {
  if (!row) throw chatNotFound()
  // A fork's inherited rows are the source's: the read side lists them under the fork.
  const messages = history.messages.map((m) => (m.chatId === row.id ? m : { ...m, chatId: row.id }))
  return { row, history: { ...history, messages }, inherited }
}

/**
 * The chat as it stood right after `revision`; out-of-range revisions are REVISION_OUT_OF_RANGE.
 * With a memo, the fold starts at the latest fold it kept at or before the revision, when the
 * event there still has the hash it was taken with, and leaves checkpoints on its way and at the end.
 */
export async function chatAsOf(store: EventStore, chatId: string, revision: number, memo?: ChatFoldMemo): Promise<ChatAsOf> {
  requireRevisionInRange(chatId, await chatRevisionRange(store, chatId), revision, 'asOfRevision')
  const checkpoint = memo?.latest(chatStream(chatId), revision)
  if (checkpoint) {
    const resumed = await foldThrough(store, chatId, revision, memo, checkpoint)
    if (resumed) return resultOf(resumed)
    memo!.forget(chatStream(chatId))
  }
  return resultOf((await foldThrough(store, chatId, revision, memo))!)
}

/**
 * Folds the chat's events up to `revision` as the store reads them (a page while the next ones
 * are read, none held longer), from the first event or from a kept fold; null when the event that
 * fold was taken at no longer has its hash.
 */
async function foldThrough(store: EventStore, chatId: string, revision: number, memo?: ChatFoldMemo, start?: FoldCheckpoint): Promise<ChatFold | null> {
  const stream = chatStream(chatId)
  let fold = emptyFold()
  if (start) {
    const { row, history, inherited } = start.fold
    fold = { row, inherited, history: { messages: history.messages.slice(), queue: history.queue.slice(), attachmentIds: history.attachmentIds.slice() } }
  }
  let verified = !start
  let last: FoldEvent | undefined
  for await (const page of chatEventPages(store, chatId, revision, start?.revision ?? 0)) {
    for (const event of page) {
      if (!verified) {
        if (event.hash !== start!.hash) return null
        verified = true
        continue
      }
      foldEvent(fold, event)
      const at = Number(event.revision)
      if (memo?.wants(stream, at)) memo.keep(stream, at, event.hash, fold)
      last = event
    }
  }
  if (!verified) return null
  if (memo && last && revision % memo.every !== 0) memo.keepAnswer(stream, revision, last.hash, fold)
  return fold
}
