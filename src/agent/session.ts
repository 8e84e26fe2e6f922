import { randomUUID } from 'node:crypto'
import { chatDecider } from '../../commands/chat/decide.ts'
import type { ChatState } from '../../commands/chat/state.ts'
import type { EventMetadata, EventStore, StoredEvent } from '../eventstore/types.ts'
import { WrongExpectedRevisionError } from '../eventstore/types.ts'
import { SCHEMA_VERSION, upcast } from '../events/index.ts'
import { chatStream, type ChatEvent } from '../events/chat.ts'
import type { SecretScanner } from '../secrets/scanner.ts'

/** Another runner wrote to the chat: this one's view is stale and it must stop. */
export class StaleRunnerError extends Error {
  constructor(chatId: string) {
    super(`chat ${chatId} was taken over by another runner`)
    this.name = 'StaleRunnerError'
  }
}

/**
 * A runner's view of one chat: its events, folded state and last seen revision. Every
 * append is fenced by that revision. When users appended meanwhile (a queued message,
 * an interrupt request), the session folds their events in and appends again; when
 * another runner appended, it throws StaleRunnerError — a stale runner never writes.
 */
export class ChatSession {
  events: StoredEvent[] = []
  state: ChatState = chatDecider.initialState()
  revision = -1n
  readonly stream: string
  #appending: Promise<unknown> = Promise.resolve()

  constructor(
    private readonly store: EventStore,
    readonly chatId: string,
    readonly runnerId: string,
    /** Told whenever the folded status changes. */
    private readonly onStatusChange?: (status: ChatState['status']) => void,
    /** Redacts secrets before every append (src/secrets/scanner.ts). */
    private readonly secrets?: SecretScanner,
  ) {
    this.stream = chatStream(chatId)
  }

  /** Reads events after the last seen revision and returns them. */
  async refresh(): Promise<StoredEvent[]> {
    const fresh =
      this.revision < 0n
        ? await this.store.readStream(this.stream)
        : await this.store.readStream(this.stream, { fromRevision: this.revision + 1n })
    for (const e of fresh) this.#apply(e)
    return fresh
  }

  #apply(event: StoredEvent) {
    if (event.revision <= this.revision) return
    const before = this.state.status
    this.events.push(event)
    this.state = chatDecider.evolve(this.state, upcast(event) as unknown as ChatEvent)
    this.revision = event.revision
    if (this.state.status !== before) this.onStatusChange?.(this.state.status)
  }

  metadata(causationId?: string): EventMetadata {
    return {
      actor: { kind: 'agent', id: `runner:${this.runnerId}`, onBehalfOf: this.state.ownerId },
      organizationId: this.state.organizationId,
      correlationId: this.state.currentTurnId ?? undefined,
      causationId,
      runnerId: this.runnerId,
      schemaVersion: SCHEMA_VERSION,
    }
  }

  /** Appends in order with the others of this session (tool results finish concurrently). */
  append(events: ChatEvent[]): Promise<StoredEvent[]> {
    const next = this.#appending.then(() => this.#appendNow(events))
    this.#appending = next.catch(() => {})
    return next
  }

  async #appendNow(events: ChatEvent[]): Promise<StoredEvent[]> {
    const fresh = events.map((e) => ({ id: randomUUID(), type: e.type, data: e.data, metadata: this.metadata() }))
    const newEvents = this.secrets ? await this.secrets.redactEvents(fresh, this.chatId) : fresh
    for (;;) {
      try {
        const result = await this.store.appendToStream(this.stream, newEvents, { expectedRevision: this.revision })
        // The append was fenced at our revision, so nothing came in between: no need to read it back.
        const first = this.revision + 1n
        const stored = newEvents.map(
          (e, i): StoredEvent => ({ ...e, stream: this.stream, revision: first + BigInt(i), position: result.position, createdAt: new Date(), hash: '' }),
        )
        for (const e of stored) this.#apply(e)
        return stored
      } catch (err) {
        if (!(err instanceof WrongExpectedRevisionError)) throw err
        const fresh = await this.refresh()
        if (fresh.some((e) => e.metadata.runnerId !== undefined && e.metadata.runnerId !== this.runnerId))
          throw new StaleRunnerError(this.chatId)
      }
    }
  }
}
