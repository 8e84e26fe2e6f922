import { chatRoleInstructions, withInstructions } from '../agent/instructions.ts'
import { chatDecider } from '../../commands/chat/decide.ts'
import { configDecider, type ConfigState } from '../../commands/config/decide.ts'
import type { AttachmentLoader } from '../agent/context.ts'
import { buildModelContext, contextStart } from '../agent/context.ts'
import type { ToolRegistry } from '../agent/tools/registry.ts'
import type { ConfigService } from '../config/service.ts'
import type { ChatEvent } from '../events/chat.ts'
import { CONFIG_STREAM, type ConfigEvent } from '../events/config.ts'
import { upcast } from '../events/index.ts'
import { StreamNotFoundError, type EventStore, type StoredEvent } from '../eventstore/types.ts'
import type { ModelMessage, ToolDefinition } from '../providers/types.ts'
import { chatEventsThrough, chatRevisionRange, requireRevisionInRange } from './chat-as-of.ts'

export interface ChatContextDeps {
  store: EventStore
  config: ConfigService
  tools: ToolRegistry
  loadAttachment: AttachmentLoader
}

/** What the model was sent for the step that followed a revision. */
export interface ChatContextAt {
  chatId: string
  atRevision: number
  /** The chat's model then (null: the default model, named in `resolvedModelId`). */
  modelId: string | null
  resolvedModelId: string | null
  systemPrompt: string
  /** The newest summary the context starts from, and the revision it covers through. */
  summary: { text: string; throughRevision: number } | null
  messages: ModelMessage[]
  tools: ToolDefinition[]
  /** The `AssistantStepCompleted` right after `atRevision`, when the next event is one. */
  stepRevision: number | null
  /** Revision of the last `config` event applied (system prompt, disabled tools); -1 for none. */
  configRevision: number
}

/**
 * Rebuilds the model's input for the step after `atRevision` with the runner's own code: the
 * chat folded by its decider's `evolve`, `buildModelContext` over the events up to that
 * revision (a fork's inherited ones included), the config service's system prompt and
 * `ToolRegistry.available/definitions` over the config as it stood at that event.
 */
export async function chatContextAt(deps: ChatContextDeps, chatId: string, atRevision: number): Promise<ChatContextAt> {
  requireRevisionInRange(chatId, await chatRevisionRange(deps.store, chatId), atRevision, 'atRevision')
  const read = await chatEventsThrough(deps.store, chatId, atRevision + 1)
  const events = read.slice(0, atRevision + 1)
  const next = read[atRevision + 1]
  const at = events[events.length - 1]!
  let state = chatDecider.initialState()
  for (const e of events) state = chatDecider.evolve(state, upcast(e) as unknown as ChatEvent)
  const { config, revision: configRevision } = await configAsOf(deps.store, at)
  const { summary } = contextStart(events)
  const compaction = summary === null ? undefined : (events.findLast((e) => e.type === 'ContextCompacted') as (StoredEvent & ChatEvent) | undefined)
  const resolvedModelId =
    state.modelId ?? Object.values(config.models).find((m) => m.isDefault && m.enabled)?.modelId ?? null
  return {
    chatId,
    atRevision,
    modelId: state.modelId,
    resolvedModelId,
    systemPrompt: withInstructions(await deps.config.systemPrompt(config), chatRoleInstructions(state)),
    summary:
      compaction?.type === 'ContextCompacted' ? { text: compaction.data.summary, throughRevision: compaction.data.throughRevision } : null,
    messages: await buildModelContext(events, deps.loadAttachment),
    tools: deps.tools.definitions(deps.tools.available(state, config.disabledTools)),
    stepRevision: next?.type === 'AssistantStepCompleted' ? Number(next.revision) : null,
    configRevision,
  }
}

/** The `config` stream folded through the events appended before `at` (by global position). */
async function configAsOf(store: EventStore, at: StoredEvent): Promise<{ config: ConfigState; revision: number }> {
  let config = configDecider.initialState()
  let revision = -1
  let events: StoredEvent[]
  try {
    events = await store.readStream(CONFIG_STREAM)
  } catch (err) {
    if (err instanceof StreamNotFoundError) return { config, revision }
    throw err
  }
  for (const e of events) {
    if (e.position > at.position) break
    config = configDecider.evolve(config, upcast(e) as unknown as ConfigEvent)
    revision = Number(e.revision)
  }
  return { config, revision }
}
