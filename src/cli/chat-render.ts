// Turns chatStream items into terminal text: model tokens as they arrive, tool calls and
// their results from the committed events, status changes and queue notices.
import type { ChatStatus, ChatStreamItem, StreamedEvent } from './chat-client.ts'

/** Raw text to the terminal; streamed tokens have no newline of their own. */
export const write = (text: string) => void process.stdout.write(text)

const RESULT_LINES = 3
const ARGS_CHARS = 80

export type TurnEnd = { kind: 'completed' } | { kind: 'failed'; errorKind: string; message: string } | { kind: 'interrupted' } | { kind: 'question' }

export interface RenderOptions {
  /** Writes raw text (no newline added). */
  write(text: string): void
  /** Show status changes and queue notices (interactive), or only the answer and tools (script). */
  verbose: boolean
}

function textOf(parts: unknown): string {
  if (!Array.isArray(parts)) return ''
  return parts.map((p: { type?: string; text?: string; name?: string }) => (p.type === 'text' ? p.text : p.type === 'attachment' ? `[${p.name}]` : '')).join('')
}

/** `{"path":"a.ts","limit":5}` → `path="a.ts" limit=5`, cut to a line. */
export function shortArgs(args: unknown): string {
  const text =
    args && typeof args === 'object' && !Array.isArray(args)
      ? Object.entries(args)
          .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
          .join(' ')
      : JSON.stringify(args ?? null)
  const oneLine = text.replace(/\s+/g, ' ')
  return oneLine.length > ARGS_CHARS ? oneLine.slice(0, ARGS_CHARS - 1) + '…' : oneLine
}

export function firstLines(text: string, n = RESULT_LINES): string[] {
  const lines = text.replace(/\s+$/, '').split('\n')
  const shown = lines.slice(0, n).map((l) => (l.length > 120 ? l.slice(0, 119) + '…' : l))
  if (lines.length > n) shown.push(`… (${lines.length - n} more lines)`)
  return shown
}

export class ChatRenderer {
  /** The chat's status as far as the stream has told us. */
  status: ChatStatus = 'WAITING'
  /** Messages waiting in the chat's queue: another turn follows this one while there are any. */
  queued = 0
  #atLineStart = true
  /** Whether any TextDelta arrived since the last committed step (else the step's text is printed whole). */
  #streamedText = false

  constructor(private readonly opts: RenderOptions) {}

  get busy(): boolean {
    return this.status === 'PENDING' || this.status === 'RUNNING' || this.status === 'INTERRUPTING'
  }

  /** Renders one item; returns how the turn ended when the item ends one. */
  render(item: ChatStreamItem): TurnEnd | null {
    switch (item.__typename) {
      case 'TextDelta':
        this.#streamedText = true
        this.#raw(item.delta)
        return null
      case 'ReasoningDelta':
      case 'ToolCallArgumentsDelta':
        return null
      case 'StatusChanged':
        this.status = item.status
        if (this.opts.verbose) this.#line(`[${item.status.toLowerCase()}]`)
        return null
      case 'RetryCountdown':
        this.#line(`[${item.errorKind}: ${item.message} — retry ${item.attempt} in ${Math.round(item.delayMs / 1000)}s]`)
        return null
      case 'ChatEventItem':
        return this.#event(item.event)
    }
  }

  #event(e: StreamedEvent): TurnEnd | null {
    const d = e.data
    switch (e.type) {
      case 'UserMessagePosted':
        if (d['fromQueueId']) this.queued = Math.max(0, this.queued - 1)
        if (this.opts.verbose && d['fromQueueId']) this.#line(`> ${textOf(d['parts'])}   (from the queue)`)
        this.status = 'PENDING'
        return null
      case 'MessageQueued':
        this.queued++
        if (this.opts.verbose) this.#line(`(queued: ${textOf(d['parts'])})`)
        return null
      case 'QueuedMessageRemoved':
        this.queued = Math.max(0, this.queued - 1)
        return null
      case 'TurnStarted':
        this.status = 'RUNNING'
        return null
      case 'AssistantStepCompleted':
        if (!this.#streamedText && typeof d['text'] === 'string' && d['text']) this.#raw(d['text'])
        this.#streamedText = false
        return null
      case 'ToolCallStarted':
        this.#line(`⚙ ${d['name']}(${shortArgs(d['arguments'])})`)
        return null
      case 'ToolCallCompleted': {
        const [head = '', ...rest] = firstLines(String(d['result'] ?? ''))
        this.#line(`  ${d['isError'] ? '✗ error' : '✓ ok'} ${d['name']} (${d['durationMs']} ms)${head ? ': ' + head : ''}`)
        for (const l of rest) this.#line(`    ${l}`)
        return null
      }
      case 'InterruptRequested':
        this.status = 'INTERRUPTING'
        if (this.opts.verbose) this.#line('[interrupting]')
        return null
      case 'QuestionAsked': {
        // The turn waits for the answer: the user's next message gives it.
        this.status = 'REQUIRES_ACTION'
        this.#endLine()
        const questions = Array.isArray(d['questions']) ? (d['questions'] as { header?: string; question?: string; options?: { label?: string; description?: string }[] }[]) : []
        for (const q of questions) {
          this.#line(`? ${q.header ? `[${q.header}] ` : ''}${q.question ?? ''}`)
          for (const o of q.options ?? []) this.#line(`    - ${o.label ?? ''}${o.description ? ` — ${o.description}` : ''}`)
        }
        return { kind: 'question' }
      }
      case 'QuestionAnswered':
        this.status = 'RUNNING'
        return null
      case 'TurnCompleted':
        this.status = 'WAITING'
        this.#endLine()
        return { kind: 'completed' }
      case 'TurnInterrupted':
        this.status = 'WAITING'
        this.#line('[interrupted]')
        return { kind: 'interrupted' }
      case 'TurnFailed':
        this.status = 'ERROR'
        if (this.opts.verbose) this.#line(`[turn failed: ${d['errorKind']}: ${d['message']}]`)
        else this.#endLine()
        return { kind: 'failed', errorKind: String(d['errorKind']), message: String(d['message']) }
      default:
        return null
    }
  }

  /** Prints a full line, first ending any streamed text. */
  #line(text: string) {
    this.#endLine()
    this.opts.write(text + '\n')
  }

  #raw(text: string) {
    if (!text) return
    this.opts.write(text)
    this.#atLineStart = text.endsWith('\n')
  }

  #endLine() {
    if (!this.#atLineStart) this.opts.write('\n')
    this.#atLineStart = true
  }
}
