import type { ModelSettings } from '../events/config.ts'
import type { StoredEvent } from '../eventstore/types.ts'
import type { ChatEvent } from '../events/chat.ts'
import type { ModelMessage, Usage } from '../providers/types.ts'
import type { ResolvedModel } from '../config/service.ts'

const SUMMARY_INSTRUCTIONS = `Summarize the conversation so far for yourself, so that you can continue the work from this summary alone.
Keep: the user's goal and constraints, decisions made, files and commands involved, what was done, what failed, and what remains to do.
Answer with the summary only.`

type Chat = StoredEvent & ChatEvent

/** Context size of the newest step: every input token the model read (cached ones included). */
function lastContextTokens(events: readonly StoredEvent[]): { tokens: number; revision: bigint } | null {
  for (let i = events.length - 1; i >= 0; i--) {
    const e = events[i] as Chat
    if (e.type === 'ContextCompacted') return null
    if (e.type === 'AssistantStepCompleted') {
      const u = e.data.usage
      return { tokens: u.inputTokens, revision: e.revision }
    }
  }
  return null
}

/** Whether the last step's input passed the model's compaction threshold (100% disables). */
export function compactionDue(events: readonly StoredEvent[], model: ModelSettings): boolean {
  if (model.compactionThresholdPercent >= 100) return false
  const last = lastContextTokens(events)
  return last !== null && last.tokens > (model.contextWindow * model.compactionThresholdPercent) / 100
}

export async function summarize(
  resolved: ResolvedModel,
  context: ModelMessage[],
  events: readonly StoredEvent[],
  signal: AbortSignal,
): Promise<{ summary: string; tokensBefore: number; tokensAfter: number; usage: Usage | null }> {
  const messages: ModelMessage[] = [...context]
  const last = messages[messages.length - 1]
  const ask = { type: 'text' as const, text: SUMMARY_INSTRUCTIONS }
  if (last?.role === 'user') last.parts = [...last.parts, ask]
  else messages.push({ role: 'user', parts: [ask] })
  let summary = ''
  let tokensAfter = 0
  let usage: Usage | null = null
  for await (const ev of resolved.client.stream({
    model: resolved.model.modelName,
    system: 'You write faithful, compact summaries of coding sessions.',
    messages,
    tools: [],
    maxOutputTokens: Math.min(resolved.model.maxOutputTokens, 8_000),
    signal,
  })) {
    if (ev.type === 'text_delta') summary += ev.text
    if (ev.type === 'usage') {
      usage = ev.usage
      tokensAfter = ev.usage.outputTokens
    }
  }
  return { summary: summary.trim(), tokensBefore: lastContextTokens(events)?.tokens ?? 0, tokensAfter, usage }
}
