import { createHash } from 'node:crypto'
import type { AppendResult, EventMetadata, EventStore, StoredEvent } from '../src/eventstore/types.ts'
import { StreamNotFoundError, WrongExpectedRevisionError } from '../src/eventstore/types.ts'
import { SCHEMA_VERSION, upcast } from '../src/events/index.ts'
import { CommandError } from './errors.ts'
import type { Decider } from './decider.ts'

/** A uuid derived from the command id, so a retried command appends the same event ids (idempotent). */
export function eventIdFor(commandId: string, index: number): string {
  const h = createHash('sha256').update(`${commandId}:${index}`).digest('hex')
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-${((parseInt(h[16]!, 16) & 3) | 8).toString(16)}${h.slice(17, 20)}-${h.slice(20, 32)}`
}

export interface Folded<State> {
  state: State
  /** Last revision of the stream, -1n when it does not exist. */
  revision: bigint
  events: StoredEvent[]
}

export async function foldStream<State, Event extends { type: string; data: unknown }>(
  store: EventStore,
  stream: string,
  decider: Pick<Decider<unknown, State, Event>, 'evolve' | 'initialState'>,
  options: { toRevision?: bigint } = {},
): Promise<Folded<State>> {
  let events: StoredEvent[]
  try {
    events = await store.readStream(stream)
  } catch (err) {
    if (err instanceof StreamNotFoundError) return { state: decider.initialState(), revision: -1n, events: [] }
    throw err
  }
  if (options.toRevision !== undefined) events = events.filter((e) => e.revision <= options.toRevision!)
  let state = decider.initialState()
  for (const event of events) state = decider.evolve(state, upcast(event) as unknown as Event)
  const revision = events.length ? events[events.length - 1]!.revision : -1n
  return { state, revision, events }
}

export interface CommandOutcome<State> {
  state: State
  events: StoredEvent[]
  result: AppendResult | null
}

export interface HandleOptions {
  commandId: string
  metadata: EventMetadata
  forkOf?: { stream: string; revision: bigint }
}

/**
 * Loads the stream, folds it, decides, and appends with the revision it read — so a
 * concurrent writer makes this retry on fresh state instead of writing over it.
 * A decision that throws appends nothing.
 */
export async function handleCommand<Command, State, Event extends { type: string; data: unknown }>(
  store: EventStore,
  stream: string,
  decider: Decider<Command, State, Event>,
  command: Command,
  options: HandleOptions,
): Promise<CommandOutcome<State>> {
  for (let attempt = 0; ; attempt++) {
    const folded = await foldStream(store, stream, decider)
    const decided = decider.decide(command, folded.state)
    if (decided.length === 0) return { state: folded.state, events: [], result: null }
    try {
      const result = await store.appendToStream(
        stream,
        decided.map((e, i) => ({
          id: eventIdFor(options.commandId, i),
          type: e.type,
          data: e.data,
          metadata: { ...options.metadata, schemaVersion: SCHEMA_VERSION },
        })),
        {
          expectedRevision: folded.revision === -1n ? 'no_stream' : folded.revision,
          forkOf: folded.revision === -1n ? options.forkOf : undefined,
        },
      )
      const state = decided.reduce(decider.evolve, folded.state)
      const first = result.nextExpectedRevision - BigInt(decided.length) + 1n
      const events = decided.map(
        (e, i) =>
          ({
            id: eventIdFor(options.commandId, i),
            stream,
            type: e.type,
            data: e.data,
            metadata: options.metadata,
            revision: first + BigInt(i),
            position: result.position,
            createdAt: new Date(),
            hash: '',
          }) satisfies StoredEvent,
      )
      return { state, events, result }
    } catch (err) {
      if (err instanceof WrongExpectedRevisionError && attempt < 4) continue
      if (err instanceof WrongExpectedRevisionError)
        throw new CommandError('CONFLICT', `${stream} kept changing while this command ran; try again`)
      throw err
    }
  }
}
