import type { ChatCommand } from '../../commands/chat/commands.ts'
import { chatDecider } from '../../commands/chat/decide.ts'
import { CommandError } from '../../commands/errors.ts'
import { writerFor, type StreamView } from '../../commands/handler.ts'
import { randomUUID } from 'node:crypto'
import type { ChatState } from '../events/chat-state.ts'
import type { EventMetadata, EventStore, StoredEvent } from '../eventstore/types.ts'
import { chatStream } from '../events/chat.ts'
import type { SecretScanner } from '../secrets/scanner.ts'

/** Another runner took the chat over: this one's decisions are refused and it must stop. */
export class StaleRunnerError extends Error {
  constructor(chatId: string, reason: string) {
    super(`chat ${chatId}: ${reason}`)
    this.name = 'StaleRunnerError'
  }
}

/**
 * A runner's hold on one chat while it has the lease: the process's folded view of the
 * stream, kept with its events (the model context is built from them), and the runner's
 * moves sent as commands through the one write primitive. Whether a move may be recorded —
 * and what follows it — is the chat decider's; a move decided by a runner that no longer
 * owns the turn is refused there (StaleRunnerError here).
 */
export class ChatSession {
  readonly stream: string

  private constructor(
    private readonly store: EventStore,
    readonly chatId: string,
    readonly runnerId: string,
    readonly view: StreamView<ChatState>,
    /** Redacts secrets from every move before the decider records it (src/secrets/scanner.ts). */
    private readonly secrets?: SecretScanner,
    /** Resolves when the deltas published so far reached other processes (see DriverOptions.publishFlushed). */
    private readonly publishFlushed?: () => Promise<void>,
  ) {
    this.stream = view.stream
  }

  static async open(store: EventStore, chatId: string, runnerId: string, secrets?: SecretScanner, publishFlushed?: () => Promise<void>): Promise<ChatSession> {
    const view = await writerFor(store).keep(chatStream(chatId), chatDecider)
    return new ChatSession(store, chatId, runnerId, view, secrets, publishFlushed)
  }

  get state(): ChatState {
    return this.view.state
  }

  get events(): readonly StoredEvent[] {
    return this.view.events ?? []
  }

  get revision(): bigint {
    return this.view.revision
  }

  /** Folds what others appended since (an interrupt from another process). */
  refresh(): Promise<number> {
    return writerFor(this.store).refresh(this.view)
  }

  metadata(causationId?: string): EventMetadata {
    return {
      actor: { kind: 'agent', id: `runner:${this.runnerId}`, onBehalfOf: this.state.ownerId },
      organizationId: this.state.organizationId,
      correlationId: this.state.currentTurnId ?? undefined,
      ...(causationId ? { causationId } : {}),
      runnerId: this.runnerId,
    }
  }

  /** Sends one of the runner's moves through the chat decider; returns the events it appended. */
  async run(command: ChatCommand, causationId?: string): Promise<StoredEvent[]> {
    let metadata = this.metadata(causationId)
    if (this.secrets) {
      const redacted = await this.secrets.redactCommand(command, this.chatId)
      command = redacted.command
      if (redacted.redactions.length) metadata = { ...metadata, redactions: redacted.redactions }
    }
    // A step's deltas (the redactor released its held-back tail just now) go out before the step:
    // a subscriber on another process sees them first.
    if (command.type === 'RecordStep') await this.publishFlushed?.()
    try {
      const outcome = await writerFor(this.store).handle(this.stream, chatDecider, command, { commandId: randomUUID(), metadata })
      return outcome.events
    } catch (err) {
      if (err instanceof CommandError && err.code === 'STALE_RUNNER') throw new StaleRunnerError(this.chatId, err.message)
      throw err
    }
  }

  close(): void {
    writerFor(this.store).release(this.view)
  }
}
