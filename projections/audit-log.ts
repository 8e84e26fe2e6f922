import type { StoredEvent } from '../src/eventstore/types.ts'
import {
  ANCHOR_EVENT_TYPES,
  CHAT_EVENT_TYPES,
  CONFIG_EVENT_TYPES,
  TEMPLATE_EVENT_TYPES,
  upcast,
  USER_EVENT_TYPES,
  WORKSPACE_EVENT_TYPES,
  type CairnEvent,
} from '../src/events/index.ts'
import type { Insertable } from 'kysely'
import type { Sql } from '../src/db/database.ts'
import { inBatches, type Projection, type ProjectionBatch } from '../src/projections/types.ts'
import { readModels, type AuditLogTable } from './read-models.ts'

/** Every event type the audit log records: all of the catalogue. Add a new stream kind's types here. */
export const AUDITED_EVENT_TYPES: readonly string[] = [
  ...CHAT_EVENT_TYPES,
  ...USER_EVENT_TYPES,
  ...CONFIG_EVENT_TYPES,
  ...TEMPLATE_EVENT_TYPES,
  ...WORKSPACE_EVENT_TYPES,
  ...ANCHOR_EVENT_TYPES,
]

const KNOWN_TYPES = new Set(AUDITED_EVENT_TYPES)
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

/** `audit_log`: one row per event, who did what where, keyed by the event's place in the global log. */
export const auditLogProjection: Projection = {
  name: 'audit_log',
  eventTypes: AUDITED_EVENT_TYPES,
  tables: ['audit_log'],
  handle: inBatches(recordEvent),
  // Nobody reads it within the moment (a waiter cuts the pause short): fewer, larger transactions.
  batchDelayMs: 250,
}

type AuditRow = Insertable<AuditLogTable>

/** Adds the event's row to the batch's rows, which are written in one insert at its end. */
async function recordEvent(tx: Sql, stored: StoredEvent, batch: ProjectionBatch): Promise<void> {
  const event = upcast(stored)
  const checkpoint = (event as StoredEvent & { checkpoint?: string }).checkpoint
  if (!checkpoint) throw new Error(`audit_log: ${event.type} at ${event.stream}@${event.revision} was delivered without a checkpoint`)
  const { actor } = event.metadata
  const data = (event.data ?? {}) as Record<string, unknown>
  const db = readModels(tx)
  let rows = batch.memo.get('rows') as AuditRow[] | undefined
  if (!rows) {
    const batchRows: AuditRow[] = (rows = [])
    batch.memo.set('rows', batchRows)
    batch.beforeCommit(async () => {
      await db.insertInto('audit_log').values(batchRows).onConflict((oc) => oc.column('position').doNothing()).execute()
    })
  }

  let organizationId = uuidOrNull(event.metadata.organizationId) ?? uuidOrNull(data.organizationId)
  // Commands need not repeat the organization on every event: the stream's first row has it.
  organizationId ??= rows.find((r) => r.stream === event.stream && r.organization_id)?.organization_id ?? null
  if (!organizationId) {
    const first = await db
      .selectFrom('audit_log')
      .select('organization_id')
      .where('stream', '=', event.stream)
      .where('organization_id', 'is not', null)
      .orderBy('revision')
      .limit(1)
      .executeTakeFirst()
    organizationId = first?.organization_id ?? null
  }

  rows.push({
    position: checkpoint,
    event_id: event.id,
    organization_id: organizationId,
    actor_kind: actor.kind,
    actor_id: actor.id,
    on_behalf_of: actor.onBehalfOf ?? null,
    user_id: actor.onBehalfOf ?? (actor.kind === 'user' ? actor.id : null),
    chat_id: uuidOrNull(idOfStream(event.stream, 'chat')),
    workspace_id: uuidOrNull(data.workspaceId) ?? uuidOrNull(idOfStream(event.stream, 'workspace')),
    stream: event.stream,
    revision: Number(event.revision),
    event_type: event.type,
    summary: KNOWN_TYPES.has(event.type) ? summaryOf(event as CairnEvent) : event.type,
    message_text: KNOWN_TYPES.has(event.type) ? messageTextOf(event as CairnEvent) : null,
    occurred_at: event.createdAt,
  })
}

function idOfStream(stream: string, kind: string): string | null {
  return stream.startsWith(`${kind}-`) ? stream.slice(kind.length + 1) : null
}

function uuidOrNull(value: unknown): string | null {
  return typeof value === 'string' && UUID.test(value) ? value : null
}

/** The full text people and the model wrote, for the audit log's text search; null for other events. */
export function messageTextOf(event: CairnEvent): string | null {
  switch (event.type) {
    case 'UserMessagePosted':
    case 'MessageQueued':
      return event.data.parts.flatMap((p) => (p.type === 'text' ? [p.text] : [])).join('\n') || null
    case 'AssistantStepCompleted':
      return event.data.text || null
    case 'QuestionAsked':
      return event.data.questions.map((q) => `${q.question}\n${q.options.map((o) => o.label).join('\n')}`).join('\n')
    case 'QuestionAnswered':
      return event.data.answers.join('\n')
    case 'PlanProposed':
      return event.data.plan
    case 'SubAgentSpawned':
      return event.data.prompt
    default:
      return null
  }
}

/** User text cut to one line of `max` characters. */
export function snippet(text: string, max = 80): string {
  const line = text.replace(/\s+/g, ' ').trim()
  return line.length > max ? `${line.slice(0, max)}…` : line
}

const count = (n: number, noun: string) => `${n} ${noun}${n === 1 ? '' : 's'}`

/**
 * A short sentence for people reading the log. Never secrets: no token hashes, no tool arguments
 * or results, no provider error text (it can echo request details); user-written text is cut short.
 */
export function summaryOf(event: CairnEvent): string {
  switch (event.type) {
    case 'ChatCreated':
      return `created chat "${snippet(event.data.title)}"${event.data.parentChatId ? ` as a ${event.data.agentType ?? 'general'} sub-agent of ${event.data.parentChatId}` : ''}`
    case 'ChatForked':
      return `forked chat ${event.data.sourceChatId} at revision ${event.data.atRevision}`
    case 'UserMessagePosted': {
      const text = event.data.parts.flatMap((p) => (p.type === 'text' ? [p.text] : [])).join(' ')
      const files = event.data.parts.length - event.data.parts.filter((p) => p.type === 'text').length
      return `posted a ${event.data.fromQueueId ? 'queued ' : ''}message: ${snippet(text)}${files ? ` (+${count(files, 'attachment')})` : ''}`
    }
    case 'MessageQueued': {
      const text = event.data.parts.flatMap((p) => (p.type === 'text' ? [p.text] : [])).join(' ')
      return `queued a message${event.data.atHead ? ' at the head' : ''}: ${snippet(text)}`
    }
    case 'QueuedMessageRemoved':
      return `removed queued message ${event.data.queueId}`
    case 'QueuedMessagePromoted':
      return `moved queued message ${event.data.queueId} to the head of the queue`
    case 'InterruptRequested':
      return 'requested an interrupt'
    case 'TurnStarted':
      return `started a turn${event.data.modelId ? ` with ${event.data.modelId}` : ''}`
    case 'TurnResumed':
      return `resumed turn ${event.data.turnId} on runner ${event.data.runnerId}${event.data.previousRunnerId ? ` (after runner ${event.data.previousRunnerId})` : ''}`
    case 'AssistantStepCompleted': {
      const d = event.data
      return `model step (${d.finishReason}): ${d.usage.inputTokens} in / ${d.usage.outputTokens} out tokens, ${count(d.toolCalls.length, 'tool call')}, $${d.costUsd.toFixed(4)}`
    }
    case 'ToolCallStarted':
      return `tool call ${event.data.name} started`
    case 'ToolCallCompleted':
      return `tool call ${event.data.name} completed${event.data.isError ? ' (error)' : ''} in ${event.data.durationMs} ms`
    case 'RetryScheduled':
      return `retry ${event.data.attempt} in ${event.data.delayMs} ms after ${event.data.errorKind}`
    case 'TurnCompleted':
      return 'turn completed'
    case 'TurnInterrupted':
      return 'turn interrupted'
    case 'TurnFailed':
      return `turn failed: ${event.data.errorKind}`
    case 'CompactionRequested':
      return 'requested compaction'
    case 'ContextCompacted':
      return `compacted the context through revision ${event.data.throughRevision} (${event.data.tokensBefore} → ${event.data.tokensAfter} tokens${event.data.manual ? ', requested' : ''})`
    case 'CompactionFailed':
      return `compaction failed: ${event.data.errorKind}`
    case 'QuestionAsked':
      return `asked: ${snippet(event.data.questions.map((q) => q.question).join(' / '))}`
    case 'QuestionAnswered':
      return `answered question ${event.data.questionId}`
    case 'PlanProposed':
      return `proposed the plan ${snippet(event.data.path, 80)}`
    case 'SubAgentSpawned':
      return `spawned ${event.data.agentType} sub-agent ${event.data.childChatId}`
    case 'SubAgentClosed':
      return `closed sub-agent ${event.data.childChatId}`
    case 'AttachmentAdded':
      return `attached ${snippet(event.data.name, 60)} (${event.data.mimeType}, ${event.data.size} bytes, from ${event.data.source})`
    case 'ChatRenamed':
      return `${event.data.generated ? 'titled' : 'renamed'} the chat "${snippet(event.data.title)}"`
    case 'ChatArchived':
      return `archived the chat${event.data.cascadedFrom ? ` with its parent ${event.data.cascadedFrom}` : ''}`
    case 'ChatUnarchived':
      return `unarchived the chat${event.data.cascadedFrom ? ` with its parent ${event.data.cascadedFrom}` : ''}`
    case 'ChatModelChanged':
      return `changed the model to ${event.data.modelId}`
    case 'PlanModeChanged':
      return `turned plan mode ${event.data.planMode ? 'on' : 'off'}`
    case 'WorkspaceBound':
      return `bound workspace ${event.data.workspaceId}`
    case 'ToolCallApprovalRequested':
      return `asked for approval to run ${event.data.name} (rule ${event.data.rule.tool}${event.data.rule.commandPattern ? ` /${snippet(event.data.rule.commandPattern, 60)}/` : ''})`
    case 'ToolCallApproved':
      return `approved call ${event.data.callId}${event.data.forChat ? ' and its rule for the chat' : ''}`
    case 'ToolCallDenied':
      return event.data.expired ? `approval of call ${event.data.callId} expired` : `denied call ${event.data.callId}: ${snippet(event.data.reason, 80)}`
    case 'McpServerToggled':
      return `turned MCP server ${event.data.serverId} ${event.data.enabled ? 'on' : 'off'} for the chat`
    case 'UserCreated':
      return `created user ${event.data.email} (${event.data.role})`
    case 'UserRoleChanged':
      return `changed the role to ${event.data.role}`
    case 'OrganizationRoleGranted':
      return `granted role ${event.data.role} in organization ${event.data.organizationId}`
    case 'OrganizationRoleRevoked':
      return `revoked role ${event.data.role} in organization ${event.data.organizationId}`
    case 'OrganizationCreated':
      return `created organization ${event.data.name}`
    case 'ApiTokenIssued':
      return `issued API token "${snippet(event.data.label, 60)}"`
    case 'ApiTokenRevoked':
      return `revoked API token ${event.data.tokenId}`
    case 'ProviderConfigured':
      return `configured ${event.data.kind} provider ${event.data.providerId}`
    case 'ProviderApiKeySet':
      return `set the API key of provider ${event.data.providerId}`
    case 'ProviderRemoved':
      return `removed provider ${event.data.providerId}`
    case 'ModelConfigured':
      return `configured model ${event.data.modelId} (${event.data.enabled ? 'enabled' : 'disabled'}${event.data.isDefault ? ', default' : ''})`
    case 'ModelRemoved':
      return `removed model ${event.data.modelId}`
    case 'McpServerConfigured':
      return `configured MCP server ${event.data.serverId} (${event.data.availability})`
    case 'McpServerRemoved':
      return `removed MCP server ${event.data.serverId}`
    case 'SystemPromptSet':
      return `set the system prompt (${count(event.data.prompt.length, 'character')})`
    case 'ToolPolicySet':
      return `set the tool policy (${count(event.data.disabledTools.length, 'tool')} disabled)`
    case 'ApprovalPolicySet':
      return `set the approval policy of ${event.data.templateId ? `template ${event.data.templateId}` : `organization ${event.data.organizationId}`} (${count(event.data.rules.length, 'rule')})`
    case 'ChatRetentionSet':
      return event.data.days === null ? 'turned chat retention off' : `set chat retention to ${count(event.data.days, 'day')}`
    case 'ModelOverridesSet':
      return `set the model overrides (${(['subAgents', 'compaction', 'titles'] as const).map((job) => `${job}: ${event.data[job] ?? "the chat's model"}`).join(', ')})`
    case 'SubAgentLimitSet':
      return `set the sub-agent limit to ${count(event.data.maxActive, 'active sub-agent')}`
    case 'DebugLoggingSet':
      return `turned chat debug logging ${event.data.enabled ? 'on' : 'off'} (rows kept ${count(event.data.retentionDays, 'day')})`
    case 'ChatDebugLoggingToggled':
      return `turned debug logging of their chats ${event.data.enabled ? 'on' : 'off'}`
    case 'BudgetSet': {
      const b = event.data
      const what = `the ${b.scope}${b.scope === 'chat' ? '' : ` ${b.period}`} budget of ${b.userId ? `user ${b.userId}` : b.scope === 'user' ? `organization ${b.organizationId}'s users` : `organization ${b.organizationId}`}`
      return b.limitMicros === null ? `removed ${what}` : `set ${what} to $${(b.limitMicros / 1_000_000).toFixed(6).replace(/(\.\d\d\d*?)0+$/, '$1')}`
    }
    case 'TemplateCreated':
      return `created template "${snippet(event.data.name, 60)}" (${event.data.provisioner.kind})`
    case 'TemplateUpdated':
      return `updated template "${snippet(event.data.name, 60)}"`
    case 'TemplateArchived':
      return 'archived the template'
    case 'WorkspaceCreated':
      return `created workspace "${snippet(event.data.name, 60)}" from template ${event.data.templateId}`
    case 'WorkspaceBuildStarted':
      return `started a ${event.data.transition} build`
    case 'WorkspaceBuildSucceeded':
      return 'build succeeded'
    case 'WorkspaceBuildFailed':
      return 'build failed'
    case 'WorkspaceStarted':
      return 'workspace started'
    case 'WorkspaceStopped':
      return 'workspace stopped'
    case 'WorkspaceDeleted':
      return 'workspace deleted'
    case 'WorkspaceAgentsDeclared':
      return `declared agents ${event.data.agents.map((a) => a.name).join(', ')}`
    case 'WorkspaceAgentConnected':
      return `workspace agent ${snippet(event.data.version, 30)} connected (${snippet(event.data.os, 30)})`
    case 'WorkspaceAgentDisconnected':
      return 'workspace agent disconnected'
    case 'LogAnchored':
      return `anchored the log through ${event.data.throughCheckpoint} (${count(event.data.eventCount, 'event')}, key ${event.data.keyFingerprint})`
    default:
      return unreachable(event)
  }
}

function unreachable(event: never): string {
  return (event as { type: string }).type
}
