/**
 * The state of the fake EventStoreDB node: one transaction log (`$all`) and its streams, with the
 * rules a single node applies. No wire here: `server.ts` speaks gRPC over it.
 *
 * - Positions are byte offsets of a growing log (commit = prepare = the record's own offset, as on a
 *   20+ node for events appended outside explicit transactions); a fresh node already holds system
 *   records, so `$all` never starts with our events.
 * - Appends check ANY / NO_STREAM / STREAM_EXISTS / an exact revision atomically and are idempotent
 *   on event ids as a node is: a batch whose ids already sit right after the expected revision (the
 *   stream's start for NO_STREAM, its tail for ANY) is answered with the original result.
 * - An append is refused past the node's default maximum append size (1 MiB of data and metadata).
 */

export type ExpectedRevision = 'any' | 'no_stream' | 'stream_exists' | bigint

export interface ProposedEvent {
  id: string
  type: string
  contentType: string
  data: Uint8Array
  metadata: Uint8Array
}

export interface LogRecord extends ProposedEvent {
  stream: string
  revision: bigint
  created: Date
  /** Commit and prepare position both. */
  position: bigint
}

export type AppendOutcome =
  | { ok: true; revision: bigint | 'no_stream'; position?: bigint }
  | { ok: false; kind: 'wrong_expected_version'; current: bigint | 'no_stream' }
  | { ok: false; kind: 'maximum_append_size_exceeded'; maxAppendSize: number }

export type Filter = { on: 'stream' | 'type'; prefixes?: string[]; regex?: string }

/** A live reader: the subscription's own selection, fed each record appended after it started. */
type Listener = (record: LogRecord) => void

export const MAX_APPEND_SIZE = 1024 * 1024
/** What a record costs in the log besides its payload (header, ids, stream name, type). */
const RECORD_OVERHEAD = 96n

export class FakeLog {
  readonly #records: LogRecord[] = []
  readonly #streams = new Map<string, LogRecord[]>()
  readonly #listeners = new Set<Listener>()
  #end = 0n

  constructor() {
    // A new node writes these before anyone connects; readers of `$all` must step over them.
    this.#write('$users', [systemEvent('$UserCreated')])
    this.#write('$stats-127.0.0.1:2113', [systemEvent('$statsCollected')])
  }

  stream(name: string): readonly LogRecord[] {
    return this.#streams.get(name) ?? []
  }

  get all(): readonly LogRecord[] {
    return this.#records
  }

  append(stream: string, events: ProposedEvent[], expected: ExpectedRevision): AppendOutcome {
    const size = events.reduce((sum, e) => sum + e.data.length + e.metadata.length, 0)
    if (size > MAX_APPEND_SIZE) return { ok: false, kind: 'maximum_append_size_exceeded', maxAppendSize: MAX_APPEND_SIZE }
    const records = this.#streams.get(stream) ?? []
    const current = records.length === 0 ? 'no_stream' : BigInt(records.length - 1)

    const first = expected === 'no_stream' ? 0 : typeof expected === 'bigint' ? Number(expected) + 1 : expected === 'any' ? records.length - events.length : -1
    if (events.length > 0 && first >= 0) {
      const stored = records.slice(first, first + events.length)
      if (stored.length === events.length && stored.every((r, i) => r.id === events[i]!.id)) {
        const last = stored[stored.length - 1]!
        return { ok: true, revision: last.revision, position: last.position }
      }
    }

    const expectedHolds =
      expected === 'any' ||
      (expected === 'no_stream' && current === 'no_stream') ||
      (expected === 'stream_exists' && current !== 'no_stream') ||
      (typeof expected === 'bigint' && current === expected)
    if (!expectedHolds) return { ok: false, kind: 'wrong_expected_version', current }
    if (events.length === 0) return { ok: true, revision: current }
    const written = this.#write(stream, events)
    const last = written[written.length - 1]!
    return { ok: true, revision: last.revision, position: last.position }
  }

  /**
   * Registers `listener` for records appended from now on and returns what is stored already —
   * in the same turn, so a catch-up followed by live neither skips nor repeats a record.
   */
  follow(listener: Listener): { history: readonly LogRecord[]; stop(): void } {
    this.#listeners.add(listener)
    return { history: [...this.#records], stop: () => this.#listeners.delete(listener) }
  }

  get followers(): number {
    return this.#listeners.size
  }

  /** Overwrites a stored event's data in place, as someone with access to the node's files could. */
  tamper(stream: string, revision: bigint, change: (data: unknown) => unknown): void {
    const record = this.#streams.get(stream)?.[Number(revision)]
    if (!record) throw new Error(`fake EventStoreDB: ${stream} has no event at revision ${revision}`)
    const data = change(JSON.parse(Buffer.from(record.data).toString('utf8')))
    record.data = Buffer.from(JSON.stringify(data), 'utf8')
  }

  #write(stream: string, events: ProposedEvent[]): LogRecord[] {
    const records = this.#streams.get(stream) ?? []
    this.#streams.set(stream, records)
    const written = events.map((event) => {
      const record: LogRecord = { ...event, stream, revision: BigInt(records.length), created: new Date(), position: this.#end }
      this.#end += RECORD_OVERHEAD + BigInt(stream.length + event.type.length + event.data.length + event.metadata.length)
      records.push(record)
      this.#records.push(record)
      return record
    })
    for (const listener of this.#listeners) for (const record of written) listener(record)
    return written
  }
}

export function passes(record: LogRecord, filter: Filter | undefined): boolean {
  if (!filter) return true
  const subject = filter.on === 'stream' ? record.stream : record.type
  if (filter.prefixes?.length) return filter.prefixes.some((prefix) => subject.startsWith(prefix))
  return filter.regex === undefined || new RegExp(filter.regex).test(subject)
}

function systemEvent(type: string): ProposedEvent {
  return { id: crypto.randomUUID(), type, contentType: 'application/json', data: Buffer.from('{}'), metadata: new Uint8Array() }
}
