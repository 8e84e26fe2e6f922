import type { ChatEvent, ModelCall } from './chat.ts'

/** The chat events that record a model call and its cost: every step, and the calls around them. */
export const MODEL_CALL_EVENT_TYPES = ['AssistantStepCompleted', 'ContextCompacted', 'ChatRenamed'] as const

/**
 * The model call an event records, if any: a step's, a compaction's summary, a generated title's.
 * What spend counts (usage read model, budgets, a chat's totals) reads them all through this.
 */
export function modelCallOf(event: ChatEvent): (ModelCall & { step: boolean }) | null {
  switch (event.type) {
    case 'AssistantStepCompleted':
      return { modelId: event.data.modelId, usage: event.data.usage, costUsd: event.data.costUsd, step: true }
    case 'ContextCompacted':
    case 'ChatRenamed':
      return event.data.call ? { ...event.data.call, step: false } : null
    default:
      return null
  }
}
