import type { ChatAsOf } from './chat-as-of.ts'
import type { ChatHistory, ChatRow } from '../../projections/chat-row.ts'

/** The as-of fold after one event: what `foldChatAsOf` carries from event to event. */
export interface ChatFold {
  row: ChatRow | null
  history: ChatHistory
  inherited: ChatAsOf['inherited']
}

/** A fold kept after `revision`, with the stored hash of that event (the chain up to it). */
export interface FoldCheckpoint {
  revision: number
  hash: string
  fold: ChatFold
}

export interface ChatFoldMemoOptions {
  /** A checkpoint after every this many revisions (default 1000). */
  every?: number
  /** Most checkpoints kept for one chat; past it every other older one is dropped (default 32). */
  perChat?: number
  /** Most revisions kept across chats, counted to each chat's furthest kept fold; least recently asked chats go first (default 100,000). */
  revisions?: number
}

/**
 * Folds of chats at every N revisions, and at the revision each was last asked about, kept in
 * memory so asking a long chat about a revision reads and folds only the events after the
 * nearest one. A cache of the log, never a source: anything in it can be dropped and folded
 * again, and a kept fold is used only while the event it was taken at still has the hash it had
 * (`chatAsOf` reads that event again), so a stream that was replaced, or another database under
 * the same store, starts over.
 *
 * A checkpoint holds its own arrays; the message, queue and row objects in them are shared with
 * later checkpoints and answers, and frozen (the fold and `applyHistoryChanges` replace a row they
 * change instead of editing it).
 */
export class ChatFoldMemo {
  readonly every: number
  private readonly perChat: number
  private readonly revisions: number
  /**
   * Each stream's checkpoints by revision, and the fold of the last answer about it (a client
   * paging a chat's messages asks about the same revision again). Least recently asked first.
   */
  private readonly streams = new Map<string, { checkpoints: FoldCheckpoint[]; answer: FoldCheckpoint | null }>()

  constructor(options: ChatFoldMemoOptions = {}) {
    this.every = options.every ?? 1000
    this.perChat = options.perChat ?? 32
    this.revisions = options.revisions ?? 100_000
  }

  /** The latest fold kept at or before `revision`. */
  latest(stream: string, revision: number): FoldCheckpoint | undefined {
    const kept = this.streams.get(stream)
    if (!kept) return undefined
    this.streams.delete(stream)
    this.streams.set(stream, kept)
    const { checkpoints, answer } = kept
    let i = checkpoints.length - 1
    while (i >= 0 && checkpoints[i]!.revision > revision) i--
    const checkpoint = checkpoints[i]
    return answer && answer.revision <= revision && answer.revision > (checkpoint?.revision ?? -1) ? answer : checkpoint
  }

  /** Whether a fold that just applied `revision` should be kept as a checkpoint. */
  wants(stream: string, revision: number): boolean {
    return revision > 0 && revision % this.every === 0 && !this.streams.get(stream)?.checkpoints.some((c) => c.revision === revision)
  }

  /** Keeps a checkpoint: `fold` as it stands after `revision`, whose stored hash is `hash`. */
  keep(stream: string, revision: number, hash: string, fold: ChatFold): void {
    const kept = this.entry(stream)
    kept.checkpoints.push({ revision, hash, fold: frozenCopy(fold) })
    kept.checkpoints.sort((a, b) => a.revision - b.revision)
    if (kept.checkpoints.length > this.perChat) kept.checkpoints = kept.checkpoints.filter((_, i, all) => i % 2 === 0 || i === all.length - 1)
    this.evictOthers(stream)
  }

  /** Keeps the fold an answer about `revision` was taken from, in place of the chat's last one. */
  keepAnswer(stream: string, revision: number, hash: string, fold: ChatFold): void {
    this.entry(stream).answer = { revision, hash, fold: frozenCopy(fold) }
    this.evictOthers(stream)
  }

  /** Drops what is kept of a stream (its log is not the one it was taken from). */
  forget(stream: string): void {
    this.streams.delete(stream)
  }

  /** The stream's entry, made the most recently asked. */
  private entry(stream: string) {
    const kept = this.streams.get(stream) ?? { checkpoints: [], answer: null }
    this.streams.delete(stream)
    this.streams.set(stream, kept)
    return kept
  }

  /** Drops the least recently asked streams while more revisions than the budget are kept. */
  private evictOthers(stream: string) {
    const reach = ({ checkpoints, answer }: { checkpoints: FoldCheckpoint[]; answer: FoldCheckpoint | null }) =>
      Math.max(checkpoints[checkpoints.length - 1]?.revision ?? 0, answer?.revision ?? 0)
    let kept = 0
    for (const entry of this.streams.values()) kept += reach(entry)
    for (const [other, entry] of this.streams) {
      if (kept <= this.revisions || other === stream) break
      kept -= reach(entry)
      this.streams.delete(other)
    }
  }
}

/** The fold's arrays copied and its rows frozen, so a caller that changes a row of an answer fails loudly instead of changing later answers. */
function frozenCopy({ row, history, inherited }: ChatFold): ChatFold {
  for (const m of history.messages) Object.freeze(m)
  for (const q of history.queue) Object.freeze(q)
  return {
    row: row && Object.freeze(row),
    inherited: inherited && Object.freeze(inherited),
    history: { messages: history.messages.slice(), queue: history.queue.slice(), attachmentIds: history.attachmentIds.slice() },
  }
}
