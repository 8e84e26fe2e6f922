/**
 * The one way to write to a stream: decide from the folded state, append with the revision
 * that state was folded to, and on a conflict fold the new events and decide again. Every
 * command of every aggregate goes through `handleCommand`, the runner's moves included.
 *
 * - Within a process, commands to one stream are serialized (a queue per stream) and share
 *   one folded view of it, so they never conflict with each other.
 * - Across processes, a conflict re-reads only the events after the view's revision, folds
 *   them and decides again, with jittered, growing pauses, until the append succeeds or
 *   `conflictTimeoutMs` has passed. A decision never outlives the state it was made from.
 * - A caller that names the revision it decided from (`expectedRevision`) gets CONFLICT
 *   as soon as the stream has moved past it: that is the client's own optimistic check.
 */
import { createHash } from 'node:crypto'
import type { AppendResult, EventMetadata, EventStore, StoredEvent } from '../src/eventstore/types.ts'
import { StreamNotFoundError, WrongExpectedRevisionError } from '../src/eventstore/types.ts'
import { SCHEMA_VERSION, upcast } from '../src/events/index.ts'
import { CommandError } from './errors.ts'
import type { Decider } from './decider.ts'

type AnyEvent = { type: string; data: unknown }
type Fold<State> = Pick<Decider<unknown, State, AnyEvent>, 'evolve' | 'initialState'>

/** A uuid derived from the command id, so a retried command appends the same event ids (idempotent). */
export function eventIdFor(commandId: string, index: number): string {
  const h = createHash('sha256').update(`${commandId}:${index}`).digest('hex')
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-${((parseInt(h[16]!, 16) & 3) | 8).toString(16)}${h.slice(17, 20)}-${h.slice(20, 32)}`
}

/**
 * A stream folded up to `revision`. The writer keeps one per stream in a process; a holder
 * that needs the events themselves (the runner builds model context from them) keeps them.
 */
export class StreamView<State> {
  state: State
  /** Last folded revision; -1n before the first event. */
  revision = -1n
  loaded = false
  /** The folded events, while someone keeps the view (`keep`); otherwise null. */
  events: StoredEvent[] | null = null
  keepers = 0
  readonly #listeners = new Set<(event: StoredEvent, before: State) => void>()

  constructor(
    readonly stream: string,
    readonly fold: Fold<State>,
  ) {
    this.state = fold.initialState()
  }

  /** Folds events in order, skipping any at or below the folded revision. */
  apply(events: readonly StoredEvent[]): void {
    for (const event of events) {
      if (event.revision <= this.revision) continue
      const before = this.state
      this.state = this.fold.evolve(this.state, upcast(event) as unknown as AnyEvent)
      this.revision = event.revision
      this.events?.push(event)
      for (const listener of this.#listeners) listener(event, before)
    }
  }

  /** Told of every event folded from now on, with the state before it. */
  onApply(listener: (event: StoredEvent, before: State) => void): () => void {
    this.#listeners.add(listener)
    return () => this.#listeners.delete(listener)
  }

  reset(): void {
    this.state = this.fold.initialState()
    this.revision = -1n
    this.loaded = false
    if (this.events) this.events = []
  }
}

export interface CommandOutcome<State> {
  state: State
  /** The events this command appended (none when the decision was to do nothing). */
  events: StoredEvent[]
  result: AppendResult | null
}

export interface HandleOptions {
  /** Event ids derive from it, so retrying the same command appends nothing twice. */
  commandId: string
  metadata: EventMetadata
  /** The revision the client decided from: CONFLICT when the stream has moved past it. */
  expectedRevision?: bigint
  /** Only when the command creates the stream: it forks `stream` at `revision`. */
  forkOf?: { stream: string; revision: bigint }
}

export interface StreamWriterOptions {
  /** How long commands keep deciding again on conflicts from other processes. */
  conflictTimeoutMs?: number
  /** Folded views kept for streams nobody holds (least recently used dropped first). */
  cachedViews?: number
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

export class StreamWriter {
  readonly #views = new Map<string, StreamView<any>>()
  readonly #queues = new Map<string, Promise<unknown>>()
  readonly #conflictTimeoutMs: number
  readonly #cachedViews: number

  constructor(
    readonly store: EventStore,
    options: StreamWriterOptions = {},
  ) {
    this.#conflictTimeoutMs = options.conflictTimeoutMs ?? 10_000
    this.#cachedViews = options.cachedViews ?? 1_000
  }

  /**
   * Holds the stream's view with its events until `release` (the runner while it has the
   * chat's lease): every command to the stream in this process folds into it.
   */
  async keep<State>(stream: string, fold: Fold<State>): Promise<StreamView<State>> {
    const view = this.#view(stream, fold)
    view.keepers++
    await this.#serialize(stream, async () => {
      if (view.events === null) {
        view.events = []
        view.reset()
      }
      await this.#catchUp(view)
    })
    return view
  }

  release(view: StreamView<any>): void {
    if (--view.keepers > 0) return
    view.keepers = 0
    view.events = null
    this.#trim()
  }

  /** The stream's folded state, caught up now (the process's cached view; its events are not kept). */
  async current<State>(stream: string, fold: Fold<State>): Promise<StreamView<State>> {
    const view = this.#view(stream, fold)
    await this.refresh(view)
    return view
  }

  /** Folds events appended by others since the view's revision; returns how many. */
  refresh(view: StreamView<any>): Promise<number> {
    return this.#serialize(view.stream, () => this.#catchUp(view))
  }

  /** Load (or keep) the folded state, decide, append; on a conflict fold what is new and decide again. */
  handle<Command, State, Event extends AnyEvent>(
    stream: string,
    decider: Decider<Command, State, Event>,
    command: Command,
    options: HandleOptions,
  ): Promise<CommandOutcome<State>> {
    const view = this.#view(stream, decider)
    return this.#serialize(stream, () => this.#decideAndAppend(view, decider, command, options))
  }

  async #decideAndAppend<Command, State, Event extends AnyEvent>(
    view: StreamView<State>,
    decider: Decider<Command, State, Event>,
    command: Command,
    options: HandleOptions,
  ): Promise<CommandOutcome<State>> {
    // A command that forks creates its stream (under a new id): the append's no_stream check
    // stands in for reading it first, and a clash is a conflict like any other.
    if (!view.loaded && !options.forkOf) await this.#catchUp(view)
    const deadline = Date.now() + this.#conflictTimeoutMs
    // A refusal or a no-op decided from a view that may be behind is checked against the stream once.
    let fresh = false
    for (let attempt = 0; ; attempt++) {
      if (options.expectedRevision !== undefined && view.revision !== options.expectedRevision) {
        if (!fresh && view.revision < options.expectedRevision && (await this.#catchUp(view)) > 0) {
          fresh = true
          continue
        }
        throw new CommandError('CONFLICT', `${view.stream} is at revision ${view.revision}, not ${options.expectedRevision}; read it again and retry`, {
          revision: Number(view.revision),
        })
      }
      let decided: Event[]
      try {
        decided = decider.decide(command, view.state)
      } catch (err) {
        if (!fresh && (await this.#catchUp(view)) > 0) {
          fresh = true
          continue
        }
        throw err
      }
      if (decided.length === 0) {
        if (!fresh && (await this.#catchUp(view)) > 0) {
          fresh = true
          continue
        }
        return { state: view.state, events: [], result: null }
      }
      const ids = decided.map((_, i) => eventIdFor(options.commandId, i))
      const metadata = { ...options.metadata, schemaVersion: SCHEMA_VERSION }
      const expected = view.revision
      let result: AppendResult
      try {
        result = await this.store.appendToStream(
          view.stream,
          decided.map((e, i) => ({ id: ids[i]!, type: e.type, data: e.data, metadata })),
          { expectedRevision: expected === -1n ? 'no_stream' : expected, forkOf: expected === -1n ? options.forkOf : undefined },
        )
      } catch (err) {
        if (!(err instanceof WrongExpectedRevisionError)) throw err
        await this.#catchUp(view)
        fresh = true
        if (options.expectedRevision !== undefined || Date.now() > deadline)
          throw new CommandError('CONFLICT', `${view.stream} kept changing while this command ran; try again`, { revision: Number(view.revision) })
        if (attempt > 0) await sleep(Math.random() * Math.min(5 * 2 ** attempt, 250))
        continue
      }
      const first = result.nextExpectedRevision - BigInt(decided.length) + 1n
      const stored = (from: bigint) =>
        decided.map(
          (e, i): StoredEvent => ({
            id: ids[i]!,
            stream: view.stream,
            type: e.type,
            data: e.data,
            metadata,
            revision: from + BigInt(i),
            position: result.position,
            createdAt: result.createdAt ?? new Date(),
            hash: '',
          }),
        )
      if (first !== expected + 1n) {
        // A fork (its history starts with the source's events) or an idempotent retry of a
        // command stored before: the view no longer knows what the stream holds. It folds it
        // on the stream's next command, not here, so creating a fork stays O(1).
        view.reset()
        if (view.keepers > 0) await this.#catchUp(view) // a holder reads the view's events now
        return { state: view.state, events: expected === -1n ? stored(first) : [], result }
      }
      const events = stored(first)
      view.apply(events)
      view.loaded = true
      return { state: view.state, events, result }
    }
  }

  async #catchUp(view: StreamView<any>): Promise<number> {
    let events: StoredEvent[]
    try {
      events = view.revision < 0n ? await this.store.readStream(view.stream) : await this.store.readStream(view.stream, { fromRevision: view.revision + 1n })
    } catch (err) {
      if (!(err instanceof StreamNotFoundError)) throw err
      events = []
    }
    view.loaded = true
    const before = view.revision
    view.apply(events)
    return Number(view.revision - before)
  }

  #view<State>(stream: string, fold: Fold<State>): StreamView<State> {
    let view = this.#views.get(stream) as StreamView<State> | undefined
    if (view) {
      // Least recently used last out: re-insert at the end.
      this.#views.delete(stream)
    } else view = new StreamView(stream, fold)
    this.#views.set(stream, view as StreamView<any>)
    this.#trim()
    return view
  }

  #trim(): void {
    if (this.#views.size <= this.#cachedViews) return
    for (const [stream, view] of this.#views) {
      if (this.#views.size <= this.#cachedViews) break
      if (view.keepers === 0 && !this.#queues.has(stream)) this.#views.delete(stream)
    }
  }

  /** Runs `work` after every earlier piece of work on the stream in this process. */
  #serialize<T>(stream: string, work: () => Promise<T>): Promise<T> {
    const previous = this.#queues.get(stream) ?? Promise.resolve()
    const next = previous.then(work, work)
    const tail = next.catch(() => {})
    this.#queues.set(stream, tail)
    void tail.then(() => {
      if (this.#queues.get(stream) === tail) this.#queues.delete(stream)
    })
    return next
  }
}

const writers = new WeakMap<EventStore, StreamWriter>()

/** The one writer of this process for `store`: the API, the runner and the services share it. */
export function writerFor(store: EventStore): StreamWriter {
  let writer = writers.get(store)
  if (!writer) writers.set(store, (writer = new StreamWriter(store)))
  return writer
}

/** Runs one command through the process's writer for `store` (see the top of this file). */
export function handleCommand<Command, State, Event extends AnyEvent>(
  store: EventStore,
  stream: string,
  decider: Decider<Command, State, Event>,
  command: Command,
  options: HandleOptions,
): Promise<CommandOutcome<State>> {
  return writerFor(store).handle(stream, decider, command, options)
}

export interface Folded<State> {
  state: State
  /** Last revision of the stream, -1n when it does not exist. */
  revision: bigint
  events: StoredEvent[]
}

/** Reads and folds a whole stream (or up to `toRevision`), for readers that decide nothing. */
export async function foldStream<State>(store: EventStore, stream: string, fold: Fold<State>, options: { toRevision?: bigint } = {}): Promise<Folded<State>> {
  let events: StoredEvent[]
  try {
    events = await store.readStream(stream)
  } catch (err) {
    if (err instanceof StreamNotFoundError) return { state: fold.initialState(), revision: -1n, events: [] }
    throw err
  }
  if (options.toRevision !== undefined) events = events.filter((e) => e.revision <= options.toRevision!)
  let state = fold.initialState()
  for (const event of events) state = fold.evolve(state, upcast(event) as unknown as AnyEvent)
  return { state, revision: events.length ? events[events.length - 1]!.revision : -1n, events }
}
