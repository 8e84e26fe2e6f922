/** Events of the `config` stream: providers, models, system prompt, tool policy. API keys never appear here. */
import type { ProviderKind } from '../providers/types.ts'
import type { ApprovalRule } from './chat.ts'
import type { Budget } from './budgets.ts'

/**
 * Which tool calls wait for a person's approval in an organization's chats, or (with a
 * `templateId`) in chats whose workspace comes from that template — on top of the org's rules.
 */
export interface ApprovalPolicy {
  organizationId: string
  templateId: string | null
  rules: ApprovalRule[]
  /** An unanswered request is denied after this long. */
  expiresAfterSeconds: number
}

export interface ModelPricing {
  /** USD per million tokens. */
  input: number
  output: number
  cacheRead: number
  cacheWrite: number
}

export interface ProviderSettings {
  providerId: string
  kind: ProviderKind
  displayName: string
  baseUrl: string | null
  apiVersion: string | null
  deployment: string | null
  region: string | null
}

export interface ModelSettings {
  modelId: string
  providerId: string
  modelName: string
  displayName: string
  enabled: boolean
  isDefault: boolean
  contextWindow: number
  /** Percent of the context window at which the runner compacts; 100 disables. */
  compactionThresholdPercent: number
  maxOutputTokens: number
  pricing: ModelPricing
  /** For OpenAI-style providers: which API to call. */
  api: 'chat' | 'responses' | null
}

/** A model id per job of the runner; null: the chat's own model. */
export interface ModelOverrides {
  subAgents: string | null
  compaction: string | null
  titles: string | null
}

export type ConfigEvent =
  | { type: 'ProviderConfigured'; data: ProviderSettings }
  /** Records only that a key was set and a fingerprint (first 8 hex of its SHA-256); the key is stored encrypted outside the log. */
  | { type: 'ProviderApiKeySet'; data: { providerId: string; fingerprint: string } }
  | { type: 'ProviderRemoved'; data: { providerId: string } }
  | { type: 'ModelConfigured'; data: ModelSettings }
  | { type: 'ModelRemoved'; data: { modelId: string } }
  | { type: 'McpServerConfigured'; data: McpServerSettings }
  | { type: 'McpServerRemoved'; data: { serverId: string } }
  | { type: 'SystemPromptSet'; data: { prompt: string } }
  | { type: 'ToolPolicySet'; data: { disabledTools: string[] } }
  /** Chats idle for longer than `days` have their message rows archived (src/audit/retention.ts); null turns it off. Events are never removed. */
  | { type: 'ChatRetentionSet'; data: { days: number | null } }
  /** Replaces the policy for (organizationId, templateId); no rules removes it. */
  | { type: 'ApprovalPolicySet'; data: ApprovalPolicy }
  /** Models the runner uses instead of the chat's for sub-agents, compaction and titles; null: the chat's model. */
  | { type: 'ModelOverridesSet'; data: ModelOverrides }
  /** Sub-agent chats of one root that may be active at once. */
  | { type: 'SubAgentLimitSet'; data: { maxActive: number } }
  /** Chat debug logs (src/debuglog/): kept only while on and the chat's owner turned theirs on; rows older than `retentionDays` are deleted. */
  | { type: 'DebugLoggingSet'; data: { enabled: boolean; retentionDays: number } }
  /** Sets (or, with limitMicros null, removes) one spend limit; see src/budgets/guard.ts. */
  | { type: 'BudgetSet'; data: Budget }

export type ConfigEventType = ConfigEvent['type']
export const CONFIG_EVENT_TYPES = [
  'ProviderConfigured',
  'ProviderApiKeySet',
  'ProviderRemoved',
  'ModelConfigured',
  'ModelRemoved',
  'McpServerConfigured',
  'McpServerRemoved',
  'SystemPromptSet',
  'ToolPolicySet',
  'ChatRetentionSet',
  'ApprovalPolicySet',
  'ModelOverridesSet',
  'SubAgentLimitSet',
  'DebugLoggingSet',
  'BudgetSet',
] as const satisfies readonly ConfigEventType[]

export const CONFIG_STREAM = 'config'

/** How Cairn reaches an admin's MCP server; secrets are stored encrypted outside the log, only their fingerprints are here. */
export type McpServerAuth =
  | { kind: 'none' }
  | { kind: 'bearer'; tokenFingerprint: string }
  | { kind: 'headers'; headers: { name: string; fingerprint: string }[] }

export interface McpServerSettings {
  serverId: string
  url: string
  transport: 'streamable-http' | 'sse'
  auth: McpServerAuth
  /** force-on: every chat; default-on: unless the chat's owner turns it off; default-off: only where turned on. */
  availability: 'force-on' | 'default-on' | 'default-off'
  /** Tool names offered; empty: all of the server's. */
  allowTools: string[]
  denyTools: string[]
  allowInPlanMode: boolean
  allowInSubAgents: boolean
}
