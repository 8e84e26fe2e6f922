// The scripted model behind the soak: the wire-faithful fake Anthropic server (test/fakes/) answering
// from the request, as a model would. Each user message carries a directive — `[soak chat=… plan=…
// steps=… faults=…]` — that says what the turn does; the fake counts the steps already taken from
// the messages it is sent, so a turn resumed by another runner goes on where the log says it was.
import { randomUUID } from 'node:crypto'
import { startFakeProvider, type FakeProvider, type ScriptedResponse } from '../test/fakes/script.ts'

/**
 * text: one slowly streamed answer. busy: steps that call a tool nobody offers (it completes as an
 * error without a workspace), streamed slowly. tools: `execute` steps in the chat's workspace, each
 * appending its own nonce to soak-runs.log. daemon: a background process, a long command (the soak
 * kills the daemon under it), then that process's output. big: one answer of `steps` KiB, for slow subscribers.
 */
export type Plan = 'text' | 'busy' | 'tools' | 'daemon' | 'big'

export interface Directive {
  chat: string
  plan: Plan
  steps: number
  /** Pause between streamed chunks. */
  delayMs: number
  /** Share of model calls answered with a provider fault. */
  faults: number
}

export const RUNS_LOG = 'soak-runs.log'

export type FaultKind = '429' | '500' | '529' | 'cut' | 'silence' | 'malformed'
const FAULTS: { kind: FaultKind; fault: ScriptedResponse['fault'] }[] = [
  { kind: '429', fault: { status: 429, retryAfterSeconds: 1 } },
  { kind: '500', fault: { status: 500 } },
  { kind: '529', fault: { status: 529 } },
  { kind: 'cut', fault: 'cut' },
  { kind: 'silence', fault: 'silence' },
  { kind: 'malformed', fault: 'malformed' },
]

export function directiveText(d: Directive, note = ''): string {
  return `[soak chat=${d.chat} plan=${d.plan} steps=${d.steps} delay=${d.delayMs} faults=${d.faults} msg=${randomUUID()}] ${note}`.trim()
}

function parseDirective(text: string): Directive | null {
  const m = /\[soak chat=(\S+) plan=(\w+) steps=(\d+) delay=(\d+) faults=([\d.]+)/.exec(text)
  if (!m) return null
  return { chat: m[1]!, plan: m[2] as Plan, steps: Number(m[3]), delayMs: Number(m[4]), faults: Number(m[5]) }
}

type Block = { type: string; text?: string; content?: unknown; is_error?: boolean }
type Message = { role: string; content: string | Block[] }

const blocksOf = (m: Message): Block[] => (typeof m.content === 'string' ? [{ type: 'text', text: m.content }] : m.content)
const textOf = (b: Block): string =>
  b.type === 'text' ? (b.text ?? '') : typeof b.content === 'string' ? b.content : Array.isArray(b.content) ? (b.content as Block[]).map(textOf).join('') : ''

/** What the soak reads back from the model's side: faults it answered with, commands it asked for. */
export class SoakModel {
  readonly faultsByChat = new Map<string, FaultKind[]>()
  /** Nonces of `execute` commands asked for, by chat. */
  readonly commandsByChat = new Map<string, string[]>()
  /** Daemon plan: the nonce of the long command the soak kills the daemon under, by chat. */
  readonly longCommandByChat = new Map<string, string>()
  /** Daemon plan: what the model was told by the killed command and by process_output, by chat. */
  readonly daemonResults = new Map<string, { killedCall?: { error: boolean; text: string }; output?: string }>()
  calls = 0

  private constructor(readonly fake: FakeProvider) {
    fake.setDefault((body) => this.#answer(body as { messages: Message[] }))
  }

  static async start(): Promise<SoakModel> {
    return new SoakModel(await startFakeProvider('anthropic'))
  }

  close(): Promise<void> {
    return this.fake.close()
  }

  #answer(body: { messages: Message[] }): ScriptedResponse {
    this.calls++
    const messages = body.messages ?? []
    let at = -1
    let d: Directive | null = null
    for (let i = messages.length - 1; i >= 0 && !d; i--) {
      if (messages[i]!.role !== 'user') continue
      for (const b of blocksOf(messages[i]!)) if (b.type === 'text') d = parseDirective(b.text ?? '') ?? d
      if (d) at = i
    }
    if (!d) return { text: 'No soak directive here.' }
    const step = messages.slice(at + 1).filter((m) => m.role === 'assistant').length
    const results = messages.slice(at + 1).flatMap((m) => (m.role === 'user' ? blocksOf(m).filter((b) => b.type === 'tool_result') : []))
    if (d.faults > 0 && Math.random() < d.faults) {
      const pick = FAULTS[Math.floor(Math.random() * FAULTS.length)]!
      this.faultsByChat.set(d.chat, [...(this.faultsByChat.get(d.chat) ?? []), pick.kind])
      return { text: 'This answer is about to break in some way. '.repeat(4), textPieces: 8, fault: pick.fault }
    }
    const last = step + 1 >= d.steps
    const slow = { chunkDelayMs: d.delayMs, textPieces: 8 }
    switch (d.plan) {
      case 'text':
        return { text: `Answer for ${d.chat}: all is well after ${step} steps.`, ...slow }
      case 'busy':
        return last
          ? { text: `Busy turn of ${d.chat} done.`, ...slow }
          : { text: `Step ${step} of ${d.chat}, thinking aloud for a while.`, ...slow, toolCalls: [{ name: 'soak_pause', arguments: { step } }] }
      case 'tools': {
        if (last) return { text: `Ran ${step} commands for ${d.chat}.`, ...slow }
        const nonce = randomUUID()
        this.commandsByChat.set(d.chat, [...(this.commandsByChat.get(d.chat) ?? []), nonce])
        return { text: 'Running a command.', ...slow, toolCalls: [{ name: 'execute', arguments: { command: `echo ${nonce} >> ${RUNS_LOG}; sleep 0.7; echo done` } }] }
      }
      case 'daemon':
        return this.#daemonStep(d, step, results, slow)
      case 'big':
        return { text: `Long answer for ${d.chat}. `.repeat(Math.max(1, Math.floor((d.steps * 1024) / 24))), chunkDelayMs: d.delayMs, textPieces: 1000 }
    }
  }

  #daemonStep(d: Directive, step: number, results: Block[], slow: { chunkDelayMs: number; textPieces: number }): ScriptedResponse {
    const seen = this.daemonResults.get(d.chat) ?? {}
    this.daemonResults.set(d.chat, seen)
    switch (step) {
      case 0:
        return { ...slow, toolCalls: [{ name: 'execute', arguments: { command: 'for i in $(seq 1 30); do echo tick-$i; sleep 0.1; done', run_in_background: true } }] }
      case 1: {
        const nonce = randomUUID()
        this.commandsByChat.set(d.chat, [...(this.commandsByChat.get(d.chat) ?? []), nonce])
        this.longCommandByChat.set(d.chat, nonce)
        return { ...slow, toolCalls: [{ name: 'execute', arguments: { command: `echo ${nonce} >> ${RUNS_LOG}; sleep 6; echo slept` } }] }
      }
      case 2: {
        const killed = results[1]
        if (killed) seen.killedCall = { error: killed.is_error === true, text: textOf(killed) }
        const id = /background process (p-[0-9a-f]+)/.exec(results[0] ? textOf(results[0]) : '')?.[1] ?? 'p-unknown'
        return { ...slow, toolCalls: [{ name: 'process_output', arguments: { process_id: id } }] }
      }
      default: {
        if (results[2]) seen.output = textOf(results[2])
        return { text: `The workspace came back for ${d.chat}.`, ...slow }
      }
    }
  }
}
