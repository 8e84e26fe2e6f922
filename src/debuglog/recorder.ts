/**
 * Chat debug logs, runner side: whether a step is logged (the admin's `DebugLoggingSet` is on
 * and the chat's owner turned theirs on), and the capture that redacts an exchange and stores it.
 * Off, a step costs one look at the cached config; the owner's switch is read only while the
 * admin's is on.
 */
import type { Database } from '../db/database.ts'
import type { DebugCapture, ProviderExchange } from '../providers/debug-capture.ts'
import { SecretRedactor, type KnownSecret } from '../secrets/redact.ts'
import type { ConfigState } from '../../commands/config/decide.ts'
import { insertChatDebugLog } from './store.ts'
import { redactStreamedBody } from './redact-frames.ts'

export interface DebugLogStep {
  chatId: string
  ownerId: string
  turnId: string
  /** 0-based index of the model step in its turn. */
  step: number
  provider: string
}

/** What the driver asks before a step (DriverOptions.debugLogs). */
export interface ChatDebugLogs {
  captureFor(step: DebugLogStep): Promise<DebugCapture | undefined>
}

export class ChatDebugLogRecorder implements ChatDebugLogs {
  readonly #pending = new Set<Promise<void>>()

  constructor(
    private readonly deps: {
      db: Database
      config: { current(): Promise<ConfigState> }
      /** The secret values to redact: the same source as the runner's SecretScanner (provider keys, and whatever joins it). */
      secrets: { knownSecrets(): Promise<KnownSecret[]> }
      log: (line: string) => void
    },
  ) {}

  async captureFor(step: DebugLogStep): Promise<DebugCapture | undefined> {
    if (!(await this.deps.config.current()).debugLogging.enabled) return undefined
    const rows = await this.deps.db.query<{ enabled: boolean }>('select chat_debug_logging as enabled from users where id = $1', [step.ownerId])
    if (!rows[0]?.enabled) return undefined
    return {
      record: (exchange) => {
        const write = this.#write(step, exchange).catch((err: unknown) =>
          this.deps.log(`debug log of chat ${step.chatId} not stored: ${err instanceof Error ? err.message : String(err)}`),
        )
        this.#pending.add(write)
        void write.finally(() => this.#pending.delete(write))
      },
    }
  }

  /** Waits for the rows being written (tests, shutdown). */
  async flush(): Promise<void> {
    while (this.#pending.size) await Promise.all([...this.#pending])
  }

  async #write(step: DebugLogStep, ex: ProviderExchange): Promise<void> {
    // Secrets never stored: the provider keys the config holds and the common secret shapes, as in the runner's events.
    const redactor = new SecretRedactor(await this.deps.secrets.knownSecrets())
    const text = (s: string) => redactor.redact(s).text
    const headers = (h: Record<string, string>) => Object.fromEntries(Object.entries(h).map(([k, v]) => [k, text(v)]))
    await insertChatDebugLog(this.deps.db, {
      chatId: step.chatId,
      turnId: step.turnId,
      step: step.step,
      provider: step.provider,
      method: ex.method,
      urlPath: text(ex.urlPath),
      requestHeaders: headers(ex.requestHeaders),
      requestBody: ex.requestBody === null ? null : text(ex.requestBody),
      requestTruncated: ex.requestTruncated,
      status: ex.status,
      responseHeaders: headers(ex.responseHeaders),
      // A secret the model repeats arrives in pieces across frames: redacted across them.
      responseBody: redactStreamedBody(ex.responseBody, redactor),
      responseTruncated: ex.responseTruncated,
      error: ex.error === null ? null : text(ex.error),
      startedAt: ex.startedAt,
      firstByteMs: ex.firstByteMs,
      durationMs: ex.durationMs,
    })
  }
}
