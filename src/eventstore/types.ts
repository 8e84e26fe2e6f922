/** The event store contract every backend implements (PostgreSQL, PGlite, EventStoreDB). */

export type ActorKind = 'user' | 'agent' | 'workspace' | 'system'
export interface Actor {
  kind: ActorKind
  id: string
  /** The user an agent or workspace acts for. */
  onBehalfOf?: string
}

export interface EventMetadata {
  actor: Actor
  correlationId?: string
  causationId?: string
  organizationId?: string
  /** The version of the shape of the event's data, absent for the first (`upcast` in src/events reads it). */
  schemaVersion?: number
  [key: string]: unknown
}

/** What a caller appends. `id` makes a retried append idempotent. */
export interface NewEvent<Type extends string = string, Data = unknown> {
  id: string
  type: Type
  data: Data
  metadata: EventMetadata
}

export interface StoredEvent<Type extends string = string, Data = unknown> extends NewEvent<Type, Data> {
  stream: string
  /** 0-based per stream; a fork's own events continue from its cut. */
  revision: bigint
  /** Global order of the whole log. For PostgreSQL it is the row's sequence number; reading in
   *  global order means ordering by `(xid, position)` — see `GlobalPosition`. */
  position: bigint
  createdAt: Date
  /** SHA-256 (hex) of the previous event's hash in the stream and this event's canonical content. */
  hash: string
}

/**
 * An event as a fold of its stream reads it (`EventStore.readStreamForFold`): all but its global
 * position and its metadata, of which only the schema version is kept (what `upcast` reads). A
 * chat's metadata is a third of its JSON, and the chat read model is folded without it.
 */
export interface FoldEvent<Type extends string = string, Data = unknown> extends Omit<StoredEvent<Type, Data>, 'metadata' | 'position'> {
  metadata: Pick<EventMetadata, 'schemaVersion'>
}

export type ExpectedRevision = 'any' | 'no_stream' | 'exists' | bigint

export interface AppendOptions {
  expectedRevision?: ExpectedRevision
  /** Only when creating a stream: it reads as `stream`'s events 0..revision, then its own. */
  forkOf?: { stream: string; revision: bigint }
}

export interface AppendResult {
  /** Revision of the last appended event. */
  nextExpectedRevision: bigint
  /** Global position of the last appended event. */
  position: bigint
  /** The checkpoint a log reader has passed once it has seen these events. */
  checkpoint: Checkpoint
  /** When the events were stored, as they read back; absent when this call stored nothing (an idempotent retry) or the store does not say. */
  createdAt?: Date
}

/**
 * Where a reader of the whole log stands. Opaque to callers: compare with `compareCheckpoints`.
 * PostgreSQL encodes `(xid, position)` so late-committing transactions are never passed.
 */
export type Checkpoint = string

export interface ReadStreamOptions {
  fromRevision?: bigint | 'start' | 'end'
  direction?: 'forwards' | 'backwards'
  maxCount?: number
}

export interface ReadAllOptions {
  /** Exclusive: events strictly after this checkpoint. Omit for the beginning. */
  after?: Checkpoint
  maxCount?: number
  filter?: { streamPrefix?: string; eventTypes?: string[] }
}

export interface ReadAllResult {
  events: (StoredEvent & { checkpoint: Checkpoint })[]
  /** Pass as `after` to continue. Moves past filtered-out events too. */
  checkpoint: Checkpoint
  /**
   * True when the read reached the head of the log as it could see it; false when there may be
   * more right behind the checkpoint. (A filtered page can be short and still not at the head.)
   */
  atHead?: boolean
}

export interface Subscription<T> extends AsyncIterable<T> {
  close(): Promise<void>
}

export interface VerifyResult {
  ok: boolean
  checked: number
  /** The first event whose stored hash does not match the recomputed chain. */
  firstBad?: { revision: bigint; id: string; expected: string; actual: string }
}

export interface StreamInfo {
  stream: string
  /** Revision of the last event, including inherited ones for a fork; -1n when empty. */
  revision: bigint
  forkOf?: { stream: string; revision: bigint }
}

/** A watch for appends to the log (`EventStore.watchAppends`). */
export interface AppendWatch {
  /**
   * Whether a read of the whole log right after a wake-up may not show the append yet, so a reader
   * that found nothing should look again soon: PostgreSQL's, where an older open transaction holds
   * the visibility horizon back. EventStoreDB's wakes only for events it serves already.
   */
  readonly visibleLate: boolean
  stop(): Promise<void>
}

export interface EventStore {
  appendToStream(stream: string, events: NewEvent[], options?: AppendOptions): Promise<AppendResult>
  /** Throws StreamNotFoundError when the stream does not exist. */
  readStream(stream: string, options?: ReadStreamOptions): Promise<StoredEvent[]>
  /**
   * The events `readStream` gives, as a fold reads them and a page at a time: a long stream is not
   * held whole, and the next pages may be read while one is folded. Throws StreamNotFoundError as
   * `readStream` does.
   */
  readStreamForFold(stream: string, options?: ReadStreamOptions): AsyncIterable<FoldEvent[]>
  streamInfo(stream: string): Promise<StreamInfo | null>
  readAll(options?: ReadAllOptions): Promise<ReadAllResult>
  /** The checkpoint at the head of the log now (what a caught-up reader would have). */
  headCheckpoint(): Promise<Checkpoint>
  subscribeToStream(stream: string, options?: { fromRevision?: bigint }): Subscription<StoredEvent>
  subscribeToAll(options?: { after?: Checkpoint; filter?: ReadAllOptions['filter'] }): Subscription<StoredEvent & { checkpoint: Checkpoint }>
  verifyStream(stream: string): Promise<VerifyResult>
  /**
   * Calls `onAppend` soon after events are appended to the log by any process sharing it, with the
   * streams when known ('' when not), and the events' types when known (appends of this process).
   * A wake-up for readers that poll the log (the projection engine), not a transport: read the
   * log after it. Best effort: a reader still polls.
   */
  watchAppends(onAppend: (streams: readonly string[], types?: readonly string[]) => void): Promise<AppendWatch>
  close(): Promise<void>
}

export class WrongExpectedRevisionError extends Error {
  readonly code = 'WRONG_EXPECTED_REVISION'
  constructor(
    readonly stream: string,
    readonly expected: ExpectedRevision,
    readonly actual: bigint | 'no_stream',
  ) {
    super(`stream ${stream}: expected revision ${String(expected)}, actual ${String(actual)}`)
    this.name = 'WrongExpectedRevisionError'
  }
}

export class StreamNotFoundError extends Error {
  readonly code = 'STREAM_NOT_FOUND'
  constructor(readonly stream: string) {
    super(`stream ${stream} does not exist`)
    this.name = 'StreamNotFoundError'
  }
}

export class ForkRevisionOutOfRangeError extends Error {
  readonly code = 'FORK_REVISION_OUT_OF_RANGE'
  constructor(
    readonly stream: string,
    readonly revision: bigint,
    readonly lastRevision: bigint,
  ) {
    super(`stream ${stream} has ${lastRevision + 1n} events; revision ${revision} does not exist`)
    this.name = 'ForkRevisionOutOfRangeError'
  }
}
