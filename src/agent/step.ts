import type { EphemeralBody } from '../live/ephemeral.ts'
import type { StepPart, TokenUsage, ToolCall } from '../events/chat.ts'
import { emptyUsage, type StreamEvent } from '../providers/types.ts'

/** A step the model streamed: what to commit, and how it ended. */
export interface StreamedStep {
  parts: StepPart[]
  toolCalls: ToolCall[]
  usage: TokenUsage
  finishReason: string
  interrupted: boolean
}

type TextPart = StepPart & { type: 'text' }
type ReasoningPart = StepPart & { type: 'reasoning' }

/**
 * Folds a provider's stream events into the parts of one step, in order, and says which
 * ephemeral item (if any) each event is for subscribers. A signature closes the part it
 * belongs to, so two thinking blocks stay two parts and each keeps its own signature.
 */
export class StepAccumulator {
  readonly parts: StepPart[] = []
  readonly toolCalls: ToolCall[] = []
  usage: TokenUsage = emptyUsage()
  finishReason = 'stop'

  constructor(private readonly turnId: string) {}

  #open<P extends TextPart | ReasoningPart>(type: P['type']): P {
    const last = this.parts[this.parts.length - 1]
    if (last?.type === type && !last.signature) return last as P
    const part = { type, text: '' } as P
    this.parts.push(part)
    return part
  }

  #last<P extends TextPart | ReasoningPart>(type: P['type']): P {
    const last = this.parts[this.parts.length - 1]
    return last?.type === type ? (last as P) : this.#open<P>(type)
  }

  /** Applies one event; returns what to publish to chatStream subscribers, if anything. */
  apply(ev: StreamEvent): EphemeralBody | null {
    const turnId = this.turnId
    switch (ev.type) {
      case 'text_delta':
        this.#open<TextPart>('text').text += ev.text
        return { kind: 'TextDelta', turnId, delta: ev.text }
      case 'text_signature':
        this.#last<TextPart>('text').signature = ev.signature
        return null
      case 'reasoning_delta':
        this.#open<ReasoningPart>('reasoning').text += ev.text
        return { kind: 'ReasoningDelta', turnId, delta: ev.text }
      case 'reasoning_signature': {
        const part = this.#last<ReasoningPart>('reasoning')
        part.signature = ev.signature
        if (ev.redacted) part.redacted = true
        return null
      }
      case 'tool_call_start':
        return { kind: 'ToolCallArgumentsDelta', turnId, callId: ev.id, name: ev.name, delta: '' }
      case 'tool_call_delta':
        return { kind: 'ToolCallArgumentsDelta', turnId, callId: ev.id, delta: ev.argumentsDelta }
      case 'tool_call_end': {
        const call: ToolCall = { id: ev.id, name: ev.name, arguments: ev.arguments, ...(ev.signature ? { signature: ev.signature } : {}) }
        this.toolCalls.push(call)
        this.parts.push({ type: 'tool_call', ...call })
        return null
      }
      case 'usage':
        this.usage = { ...ev.usage }
        return null
      case 'finish':
        this.finishReason = ev.reason
        return null
    }
  }

  /** The step as it stands: whole, or (interrupted) what had streamed, without unfinished tool calls. */
  result(interrupted: boolean): StreamedStep {
    if (!interrupted) return { parts: this.parts, toolCalls: this.toolCalls, usage: this.usage, finishReason: this.finishReason, interrupted }
    return { parts: this.parts.filter((p) => p.type !== 'tool_call'), toolCalls: [], usage: this.usage, finishReason: 'interrupted', interrupted }
  }
}
