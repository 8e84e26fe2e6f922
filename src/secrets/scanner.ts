import type { EphemeralSink } from '../agent/ephemeral.ts'
import type { EphemeralItem } from '../api/ephemeral.ts'
import type { NewEvent } from '../eventstore/types.ts'
import { SecretRedactor, type KnownSecret, type RedactionCounts, type StreamingRedactor } from './redact.ts'

/** Where the secret values come from: the config service's provider keys (MCP auth secrets join here). */
export interface SecretSource {
  knownSecrets(): Promise<KnownSecret[]>
}

/**
 * The runner's redaction: `redactEvents` before every append of a chat event, `sink` around the
 * ephemeral publish. Known values are refreshed on each append (cheap: the source caches them),
 * so deltas, which must be redacted synchronously, use the values the last append saw.
 */
export class SecretScanner {
  #redactor = new SecretRedactor()
  /** Releases a chat's held-back delta tails through the sink (set once `sink` wraps a publish). */
  #release: (chatId: string) => void = () => {}

  constructor(private readonly source?: SecretSource) {}

  get redactor(): SecretRedactor {
    return this.#redactor
  }

  async refresh(): Promise<SecretRedactor> {
    if (this.source) this.#redactor = new SecretRedactor(await this.source.knownSecrets())
    return this.#redactor
  }

  /**
   * Replaces secrets in each event's data by `[redacted:<kind>]` and records
   * `metadata.redactions: [{kind, count}]` on the events that had any. An append to a chat ends
   * what streamed before it: the chat's held-back delta tails are published first.
   */
  async redactEvents<E extends NewEvent>(events: E[], chatId?: string): Promise<E[]> {
    if (chatId) this.#release(chatId)
    const redactor = await this.refresh()
    return events.map((e) => {
      const { value, counts } = redactor.redactValue(e.data)
      const redactions = countsList(counts)
      return redactions.length ? { ...e, data: value, metadata: { ...e.metadata, redactions } } : e
    })
  }

  /**
   * Wraps the runner's publish: deltas go through one streaming redactor per (chat, stream),
   * whose held-back tail is released when another item of that chat comes or the runner appends
   * to the chat (the step is complete then); other items' strings are redacted whole.
   */
  sink(publish: EphemeralSink): EphemeralSink {
    const open = new Map<string, { key: string; item: DeltaItem; stream: StreamingRedactor }>()
    const release = (chatId: string, exceptKey?: string) => {
      const pending = open.get(chatId)
      if (!pending || pending.key === exceptKey) return
      open.delete(chatId)
      const rest = pending.stream.flush()
      if (rest) publish(chatId, { ...pending.item, delta: rest })
    }
    this.#release = (chatId) => release(chatId)
    return (chatId, item) => {
      if (isDelta(item)) {
        const key = `${item.kind}:${item.turnId}:${'callId' in item ? item.callId : (item.stepId ?? '')}`
        release(chatId, key)
        let pending = open.get(chatId)
        if (!pending) open.set(chatId, (pending = { key, item, stream: this.#redactor.stream() }))
        const delta = pending.stream.push(item.delta)
        // An empty delta passes as it came (it holds nothing); a held-back one waits.
        if (delta || !item.delta) publish(chatId, { ...item, delta })
        return
      }
      release(chatId)
      publish(chatId, this.#redactor.redactValue(item).value)
    }
  }
}

type DeltaItem = Extract<EphemeralItem, { delta: string }>
const isDelta = (item: EphemeralItem): item is DeltaItem => 'delta' in item

const countsList = (counts: RedactionCounts) => Object.entries(counts).map(([kind, count]) => ({ kind, count }))
