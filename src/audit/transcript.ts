/**
 * `cairn events export --format markdown`: a chat's trajectory as a Markdown transcript a reader
 * can use without Cairn — every message, model step, tool call with its arguments and result,
 * compaction and fork, each marked with its revision.
 */
import type { StoredEvent } from '../eventstore/types.ts'
import type { ChatEvent } from '../events/chat.ts'
import { openToolCallsAfter, toolCallsClosedByFork, type OpenToolCalls } from '../events/open-tool-calls.ts'

type ChatStored = StoredEvent & ChatEvent

/** A fenced block whose fence is longer than any backtick run inside it. */
export function fenced(text: string, language = ''): string {
  const longest = Math.max(2, ...[...text.matchAll(/`+/g)].map((m) => m[0].length))
  const fence = '`'.repeat(longest + 1)
  return `${fence}${language}\n${text}\n${fence}`
}

const quote = (text: string) =>
  text
    .split('\n')
    .map((l) => `> ${l}`)
    .join('\n')

function partsText(parts: ChatEvent & { type: 'UserMessagePosted' } extends { data: { parts: infer P } } ? P : never): string {
  return parts.map((p) => (p.type === 'text' ? p.text : `[attachment ${p.name} (${p.mimeType}, ${p.size} bytes, sha256 ${p.sha256})]`)).join('\n\n')
}

/**
 * Markdown for one event; null for events a reader does not need (leases, retries are kept).
 * `open` is the calls still open before it (the fold's own rule): a fork closes those at its cut.
 */
export function markdownOf(raw: StoredEvent, open: OpenToolCalls = {}): string | null {
  const e = raw as ChatStored
  const at = `<sub>revision ${e.revision} · ${e.createdAt.toISOString()} · ${e.metadata.actor.kind} ${e.metadata.actor.id}</sub>`
  switch (e.type) {
    case 'ChatCreated':
      return `# ${e.data.title}\n\nChat \`${e.data.chatId}\`, model ${e.data.modelId ?? '(default)'}${e.data.planMode ? ', plan mode' : ''}.\n\n${at}`
    case 'ChatForked': {
      // The event may leave the list out (a fork decided from the source's head): then it is the calls open at the cut.
      const closed = toolCallsClosedByFork(e, open)
      return `## Forked from chat \`${e.data.sourceChatId}\` at revision ${e.data.atRevision}\n\nNew chat \`${e.data.chatId}\`: "${e.data.title}".${
        closed.length ? ` Tool calls closed as not executed: ${closed.map((c) => (open[c] ? `\`${open[c]}\` (id \`${c}\`)` : `\`${c}\``)).join(', ')}.` : ''
      }\n\n${at}`
    }
    case 'UserMessagePosted':
      return `## User\n\n${partsText(e.data.parts)}\n\n${at}`
    case 'MessageQueued':
      return `### Queued message\n\n${quote(partsText(e.data.parts))}\n\n${at}`
    case 'QuestionAsked':
      return `## Question to the user\n\n${e.data.questions
        .map((q) => `**${q.header}** ${q.question}${q.options.length ? `\n\n${q.options.map((o) => `- ${o.label}${o.description ? ` — ${o.description}` : ''}`).join('\n')}` : ''}`)
        .join('\n\n')}\n\n${at}`
    case 'QuestionAnswered':
      return `## User's answer\n\n${e.data.answers.map((a) => quote(a)).join('\n\n')}\n\n${at}`
    case 'TurnStarted':
      return `---\n\n*Turn started${e.data.modelId ? ` with ${e.data.modelId}` : ''}.* ${at}`
    case 'AssistantStepCompleted': {
      const out: string[] = [`## Assistant${e.data.interrupted ? ' (interrupted)' : ''}`]
      for (const part of e.data.parts) {
        if (part.type === 'reasoning') out.push(part.redacted ? '*(reasoning redacted by the provider)*' : `<details><summary>Reasoning</summary>\n\n${fenced(part.text)}\n\n</details>`)
        else if (part.type === 'text') {
          if (part.text) out.push(part.text)
        } else out.push(`**Tool call** \`${part.name}\` (id \`${part.id}\`)\n\n${fenced(JSON.stringify(part.arguments, null, 2), 'json')}`)
      }
      const u = e.data.usage
      out.push(`<sub>${u.inputTokens} in / ${u.outputTokens} out tokens · $${e.data.costUsd.toFixed(4)} · ${e.data.finishReason}</sub> ${at}`)
      return out.join('\n\n')
    }
    case 'ToolCallStarted':
      return null
    case 'ToolCallCompleted':
      return `**Tool result** \`${e.data.name}\` (id \`${e.data.callId}\`)${e.data.isError ? ' — error' : ''}, ${e.data.durationMs} ms\n\n${fenced(e.data.result)}\n\n${at}`
    case 'RetryScheduled':
      return `*Provider error (${e.data.errorKind}); retry ${e.data.attempt} in ${e.data.delayMs} ms.* ${at}`
    case 'TurnCompleted':
      return `*Turn completed.* ${at}`
    case 'TurnInterrupted':
      return `*Turn interrupted.* ${at}`
    case 'TurnFailed':
      return `*Turn failed: ${e.data.errorKind}.* ${at}`
    case 'ContextCompacted':
      return `## Context compacted through revision ${e.data.throughRevision}\n\n${e.data.tokensBefore} → ${e.data.tokensAfter} tokens. The model sees this summary instead of what it covers:\n\n${quote(e.data.summary)}\n\n${at}`
    case 'CompactionFailed':
      return `*Compaction failed: ${e.data.errorKind}.* ${at}`
    case 'PlanProposed':
      return `## Plan proposed (\`${e.data.path}\`, sha256 ${e.data.sha256})\n\n${e.data.plan}\n\n${at}`
    case 'SubAgentSpawned':
      return `*Spawned ${e.data.agentType} sub-agent \`${e.data.childChatId}\`:*\n\n${quote(e.data.prompt)}\n\n${at}`
    case 'SubAgentClosed':
      return `*Closed sub-agent \`${e.data.childChatId}\`.* ${at}`
    case 'AttachmentAdded':
      return `*Attached ${e.data.name} (${e.data.mimeType}, ${e.data.size} bytes, sha256 ${e.data.sha256}).* ${at}`
    case 'ChatRenamed':
      return `*Renamed "${e.data.title}".* ${at}`
    case 'ChatModelChanged':
      return `*Model changed to ${e.data.modelId}.* ${at}`
    case 'PlanModeChanged':
      return `*Plan mode ${e.data.planMode ? 'on' : 'off'}.* ${at}`
    case 'WorkspaceBound':
      return `*Workspace \`${e.data.workspaceId}\` bound.* ${at}`
    default:
      return null
  }
}

/** Writes the transcript of `events` (a chat's history in revision order) through `write`. */
export async function writeMarkdownTranscript(events: AsyncIterable<StoredEvent>, write: (text: string) => Promise<void> | void): Promise<number> {
  let count = 0
  let open: OpenToolCalls = {}
  for await (const event of events) {
    const text = markdownOf(event, open)
    open = openToolCallsAfter(open, event as ChatStored)
    if (text !== null) await write(`${text}\n\n`)
    count++
  }
  return count
}
