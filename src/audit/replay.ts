/**
 * `cairn events replay --chat ID`: the conversation as the model saw it, step by step. Before
 * each model step the context is rebuilt from the events before it with `buildModelContext`,
 * the runner's own function; what is new since the last step is printed, and after a compaction
 * the whole (now shorter) context is printed again.
 */
import { buildModelContext, type AttachmentLoader } from '../agent/context.ts'
import type { StoredEvent } from '../eventstore/types.ts'
import type { ChatEvent } from '../events/chat.ts'
import type { AssistantPart, ModelMessage } from '../providers/types.ts'

type ChatStored = StoredEvent & ChatEvent

const indent = (text: string, by = '    ') =>
  text
    .split('\n')
    .map((l) => by + l)
    .join('\n')

function assistantLines(parts: AssistantPart[]): string[] {
  return parts.map((p) => {
    if (p.type === 'text') return indent(p.text)
    if (p.type === 'reasoning') return indent(p.redacted ? '(reasoning, redacted by the provider)' : `(reasoning) ${p.text}`)
    return indent(`→ ${p.name}(${JSON.stringify(p.arguments)})  [${p.id}]`)
  })
}

/** One message of the model's context as terminal lines. */
export function messageLines(message: ModelMessage): string[] {
  switch (message.role) {
    case 'user':
      return ['  user:', ...message.parts.map((p) => indent(p.type === 'text' ? p.text : `[image ${p.mimeType}, ${Math.round((p.data.length * 3) / 4)} bytes]`))]
    case 'assistant':
      return ['  assistant:', ...assistantLines(message.parts)]
    case 'tool':
      return ['  tool results:', ...message.results.map((r) => indent(`← ${r.name} [${r.callId}]${r.isError ? ' (error)' : ''}: ${r.content}`))]
  }
}

/**
 * Prints the replay of `events` (a chat's whole history in revision order) through `out`.
 * Returns the number of model steps replayed.
 */
export async function replayChat(events: readonly StoredEvent[], load: AttachmentLoader, out: (line: string) => void): Promise<number> {
  let previous: string[] = []
  let steps = 0
  for (let i = 0; i < events.length; i++) {
    const e = events[i] as ChatStored
    if (e.type === 'ContextCompacted') {
      out(`══ revision ${e.revision}: context compacted through revision ${e.data.throughRevision} (${e.data.tokensBefore} → ${e.data.tokensAfter} tokens)`)
      continue
    }
    if (e.type !== 'AssistantStepCompleted') continue
    steps++
    const context = await buildModelContext(events.slice(0, i), load)
    const keys = context.map((m) => JSON.stringify(m))
    const continues = previous.length > 0 && previous.length <= keys.length && previous.every((k, j) => k === keys[j])
    if (continues) {
      out(`── step ${steps} (revision ${e.revision}): the model was sent ${context.length} messages; new since the last step:`)
      for (const m of context.slice(previous.length)) for (const line of messageLines(m)) out(line)
    } else {
      out(`── step ${steps} (revision ${e.revision}): the model was sent ${context.length} messages${steps > 1 ? ' (the context was rebuilt: compaction or fork)' : ''}:`)
      for (const m of context) for (const line of messageLines(m)) out(line)
    }
    out(`  ⇒ the model answered (${e.data.usage.inputTokens} in / ${e.data.usage.outputTokens} out tokens, ${e.data.finishReason}):`)
    for (const line of assistantLines(e.data.parts)) out(line)
    // What the next step's context continues from: this context plus the answer, as the runner records it.
    previous = (await buildModelContext(events.slice(0, i + 1), load)).map((m) => JSON.stringify(m))
  }
  if (!steps) out('no model steps in this chat yet')
  return steps
}
