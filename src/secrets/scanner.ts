import type { EphemeralBody, EphemeralSink } from '../live/ephemeral.ts'
import { SecretRedactor, type KnownSecret, type RedactionCounts, type StreamingRedactor } from './redact.ts'

/** Where the secret values come from: the config service's provider keys (MCP auth secrets join here). */
export interface SecretSource {
  knownSecrets(): Promise<KnownSecret[]>
}

/**
 * The runner's redaction: `redactCommand` before each of its moves reaches the chat decider,
 * `sink` around the ephemeral publish. Known values are refreshed on each move (cheap: the
 * source caches them), so deltas, which must be redacted synchronously, use the values the
 * last move saw.
 */
export class SecretScanner {
  #redactor = new SecretRedactor()
  /** Releases a chat's held-back delta tails through the sink (set once `sink` wraps a publish). */
  #release: (chatId: string) => void = () => {}

  constructor(private readonly source?: SecretSource) {}

  get redactor(): SecretRedactor {
    return this.#redactor
  }

  /** The model's text has ended (its step's usage or finish came): publish what the chat's streams still hold back. */
  release(chatId: string): void {
    this.#release(chatId)
  }

  async refresh(): Promise<SecretRedactor> {
    if (this.source) this.#redactor = new SecretRedactor(await this.source.knownSecrets())
    return this.#redactor
  }

  /**
   * Replaces secrets anywhere in a runner command (model text, reasoning, tool arguments and
   * results) by `[redacted:<kind>]`; `redactions` says which kinds how often, never the values,
   * for the appended events' metadata. A move ends what streamed before it: the chat's
   * held-back delta tails are published first.
   */
  async redactCommand<C>(command: C, chatId: string): Promise<{ command: C; redactions: { kind: string; count: number }[] }> {
    this.#release(chatId)
    const redactor = await this.refresh()
    const { value, counts } = redactor.redactValue(command)
    return { command: value as C, redactions: countsList(counts) }
  }

  /**
   * Wraps the runner's publish: deltas go through one streaming redactor per (chat, stream),
   * whose held-back tail is released when another item of that chat comes or the runner appends
   * to the chat (the step is complete then); other items' strings are redacted whole.
   */
  sink(publish: EphemeralSink): EphemeralSink {
    const open = new Map<string, { key: string; item: DeltaItem; source: string; stream: StreamingRedactor }>()
    const release = (chatId: string, exceptKey?: string) => {
      const pending = open.get(chatId)
      if (!pending || pending.key === exceptKey) return
      open.delete(chatId)
      const rest = pending.stream.flush()
      if (rest) publish(chatId, { ...pending.item, delta: rest }, pending.source)
    }
    this.#release = (chatId) => release(chatId)
    return (chatId, item, source) => {
      if (isDelta(item)) {
        const key = `${item.kind}:${item.turnId}:${'callId' in item ? item.callId : (item.stepId ?? '')}`
        release(chatId, key)
        let pending = open.get(chatId)
        if (!pending) open.set(chatId, (pending = { key, item, source, stream: this.#redactor.stream() }))
        const delta = pending.stream.push(item.delta)
        // An empty delta passes as it came (it holds nothing); a held-back one waits.
        if (delta || !item.delta) publish(chatId, { ...item, delta }, source)
        return
      }
      release(chatId)
      publish(chatId, this.#redactor.redactValue(item).value, source)
    }
  }
}

type DeltaItem = Extract<EphemeralBody, { delta: string }>
const isDelta = (item: EphemeralBody): item is DeltaItem => 'delta' in item

const countsList = (counts: RedactionCounts) => Object.entries(counts).map(([kind, count]) => ({ kind, count }))
