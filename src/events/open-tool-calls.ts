import type { ChatEvent } from './chat.ts'

/** Tool calls asked for and not yet answered: call id → tool name. */
export type OpenToolCalls = Readonly<Record<string, string>>

type ChatForked = Extract<ChatEvent, { type: 'ChatForked' }>

/**
 * The open tool calls after `event`. A call is open from the step that asks for it until its
 * result; a turn's end closes whatever is left, and a chat's first event (created or forked)
 * starts with none. The read models, the as-of fold and the model context all track it here.
 */
export function openToolCallsAfter(open: OpenToolCalls, event: ChatEvent): OpenToolCalls {
  switch (event.type) {
    case 'ChatCreated':
    case 'ChatForked':
    case 'TurnCompleted':
    case 'TurnInterrupted':
    case 'TurnFailed':
      return Object.keys(open).length ? {} : open
    case 'AssistantStepCompleted':
      return event.data.toolCalls.length ? { ...open, ...Object.fromEntries(event.data.toolCalls.map((c) => [c.id, c.name])) } : open
    case 'ToolCallStarted':
      return open[event.data.callId] === event.data.name ? open : { ...open, [event.data.callId]: event.data.name }
    case 'ToolCallCompleted': {
      if (!(event.data.callId in open)) return open
      const { [event.data.callId]: _answered, ...rest } = open
      return rest
    }
    default:
      return open
  }
}

/**
 * The calls a fork closes as "not executed": those listed on its `ChatForked`, or — when the
 * event leaves the list out because the fork was decided from the source's head only — the
 * calls still open in the inherited history at the cut.
 */
export function toolCallsClosedByFork(forked: ChatForked, openAtCut: OpenToolCalls): string[] {
  return forked.data.closedToolCallIds ?? Object.keys(openAtCut)
}
