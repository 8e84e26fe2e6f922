import type { ApprovalPolicy, ConfigEvent, ModelOverrides, ModelSettings, ProviderSettings } from '../../src/events/config.ts'
import { CommandError, invalidInput } from '../errors.ts'
import type { Decider } from '../decider.ts'
import type { McpServerSettings } from '../../src/events/config.ts'
import { validateMcpServer } from './mcp.ts'
import { budgetKey, type Budget } from '../../src/events/budgets.ts'
import { validateBudget } from './budgets.ts'

/** A hundred years: longer is the same as off. */
export const MAX_RETENTION_DAYS = 36_500

const PROVIDER_KINDS = ['anthropic', 'bedrock', 'openai-chat', 'openai-responses', 'azure-openai', 'google', 'openai-compatible']

export type ConfigCommand =
  | { type: 'ConfigureProvider'; settings: ProviderSettings }
  | { type: 'RecordProviderApiKey'; providerId: string; fingerprint: string }
  | { type: 'RemoveProvider'; providerId: string }
  | { type: 'ConfigureMcpServer'; settings: McpServerSettings }
  | { type: 'RemoveMcpServer'; serverId: string }
  | { type: 'ConfigureModel'; settings: ModelSettings }
  | { type: 'RemoveModel'; modelId: string }
  | { type: 'SetSystemPrompt'; prompt: string }
  | { type: 'SetDisabledTools'; disabledTools: string[] }
  | { type: 'SetChatRetention'; days: number | null }
  | { type: 'SetApprovalPolicy'; policy: ApprovalPolicy }
  /** A job left out keeps its override; null sets it back to the chat's model. */
  | { type: 'SetModelOverrides'; overrides: Partial<ModelOverrides> }
  | { type: 'SetSubAgentLimit'; maxActive: number }
  | { type: 'SetDebugLogging'; enabled: boolean; retentionDays: number }
  /** limitMicros null removes the limit. */
  | { type: 'SetBudget'; budget: Budget }

export interface ConfigState {
  providers: Record<string, ProviderSettings & { keyFingerprint: string | null }>
  models: Record<string, ModelSettings>
  systemPrompt: string | null
  disabledTools: string[]
  /** Admin MCP servers by id (src/mcp/). */
  mcpServers: Record<string, McpServerSettings>
  /** Days of inactivity after which a chat's read-model rows are archived; null: never. */
  chatRetentionDays: number | null
  /** Models the runner uses instead of the chat's for these jobs; null: the chat's model. */
  modelOverrides: ModelOverrides
  /** Approval policies by `approvalPolicyKey(organizationId, templateId)`. */
  approvalPolicies: Record<string, ApprovalPolicy>
  /** Sub-agent chats of one root that may be active (not archived, not idle) at once. */
  maxActiveSubAgents: number
  /** Chat debug logs: the admin switch and how long rows are kept. */
  debugLogging: { enabled: boolean; retentionDays: number }
  /** Spend limits by `budgetKey`. */
  budgets: Record<string, Budget>
}

export const DEFAULT_MAX_ACTIVE_SUB_AGENTS = 10
export const MAX_SUB_AGENT_LIMIT = 100
export const DEFAULT_DEBUG_LOG_RETENTION_DAYS = 7
export const MAX_DEBUG_LOG_RETENTION_DAYS = 365
const OVERRIDE_JOBS = ['subAgents', 'compaction', 'titles'] as const

export const initialConfigState = (): ConfigState => ({
  providers: {},
  models: {},
  systemPrompt: null,
  disabledTools: [],
  mcpServers: {},
  chatRetentionDays: null,
  approvalPolicies: {},
  modelOverrides: { subAgents: null, compaction: null, titles: null },
  maxActiveSubAgents: DEFAULT_MAX_ACTIVE_SUB_AGENTS,
  debugLogging: { enabled: false, retentionDays: DEFAULT_DEBUG_LOG_RETENTION_DAYS },
  budgets: {},
})

export const approvalPolicyKey = (organizationId: string, templateId: string | null) => `${organizationId}/${templateId ?? '*'}`
export const APPROVAL_LIMITS = { rules: 100, pattern: 500, minSeconds: 1, maxSeconds: 30 * 24 * 3600 } as const

function validateApprovalPolicy(p: ApprovalPolicy): ApprovalPolicy {
  if (!p.organizationId.trim()) throw invalidInput('organization id must not be empty')
  if (p.rules.length > APPROVAL_LIMITS.rules) throw invalidInput(`a policy has at most ${APPROVAL_LIMITS.rules} rules, not ${p.rules.length}`)
  if (!(Number.isInteger(p.expiresAfterSeconds) && p.expiresAfterSeconds >= APPROVAL_LIMITS.minSeconds && p.expiresAfterSeconds <= APPROVAL_LIMITS.maxSeconds))
    throw invalidInput(`expiresAfterSeconds is a whole number from ${APPROVAL_LIMITS.minSeconds} to ${APPROVAL_LIMITS.maxSeconds}; got ${p.expiresAfterSeconds}`)
  const rules = p.rules.map((r, i) => {
    const tool = r.tool.trim()
    if (!tool || !/^[A-Za-z0-9_*-]+$/.test(tool)) throw invalidInput(`rule ${i + 1}: tool is a tool name (letters, digits, _ and -), with * for any run of characters; got ${JSON.stringify(r.tool)}`)
    const pattern = r.commandPattern?.trim() || null
    if (pattern !== null) {
      if (pattern.length > APPROVAL_LIMITS.pattern) throw invalidInput(`rule ${i + 1}: commandPattern is longer than ${APPROVAL_LIMITS.pattern} characters`)
      try {
        new RegExp(pattern)
      } catch (err) {
        throw invalidInput(`rule ${i + 1}: commandPattern is not a regular expression: ${(err as Error).message}`)
      }
    }
    return { tool, ...(pattern === null ? {} : { commandPattern: pattern }), ...(r.destructiveOnly ? { destructiveOnly: true } : {}) }
  })
  return { ...p, rules }
}

function validateModel(m: ModelSettings, state: ConfigState): void {
  if (!m.modelId.trim()) throw invalidInput('model id must not be empty')
  if (!state.providers[m.providerId]) throw new CommandError('NOT_FOUND', `provider ${m.providerId} is not configured`)
  if (!m.modelName.trim()) throw invalidInput('model name must not be empty')
  if (!(m.contextWindow > 0)) throw invalidInput('context window must be a positive number of tokens')
  if (!(m.maxOutputTokens > 0)) throw invalidInput('max output tokens must be positive')
  if (!(m.compactionThresholdPercent > 0 && m.compactionThresholdPercent <= 100))
    throw invalidInput('compaction threshold is a percentage in (0, 100]; 100 disables compaction')
  for (const [k, v] of Object.entries(m.pricing)) if (!(v >= 0)) throw invalidInput(`price ${k} must be zero or more`)
}

export function decideConfig(cmd: ConfigCommand, state: ConfigState): ConfigEvent[] {
  switch (cmd.type) {
    case 'ConfigureProvider': {
      const s = cmd.settings
      if (!s.providerId.trim()) throw invalidInput('provider id must not be empty')
      if (!PROVIDER_KINDS.includes(s.kind)) throw invalidInput(`provider kind must be one of ${PROVIDER_KINDS.join(', ')}`)
      if (s.baseUrl !== null) {
        try {
          new URL(s.baseUrl)
        } catch {
          throw invalidInput(`base URL "${s.baseUrl}" is not a URL`)
        }
      }
      return [{ type: 'ProviderConfigured', data: s }]
    }
    case 'RecordProviderApiKey':
      if (!state.providers[cmd.providerId]) throw new CommandError('NOT_FOUND', `provider ${cmd.providerId} is not configured`)
      return state.providers[cmd.providerId]!.keyFingerprint === cmd.fingerprint
        ? []
        : [{ type: 'ProviderApiKeySet', data: { providerId: cmd.providerId, fingerprint: cmd.fingerprint } }]
    case 'RemoveProvider':
      if (!state.providers[cmd.providerId]) throw new CommandError('NOT_FOUND', `provider ${cmd.providerId} is not configured`)
      return [{ type: 'ProviderRemoved', data: { providerId: cmd.providerId } }]
    case 'ConfigureModel':
      validateModel(cmd.settings, state)
      return [{ type: 'ModelConfigured', data: cmd.settings }]
    case 'RemoveModel':
      if (!state.models[cmd.modelId]) throw new CommandError('NOT_FOUND', `model ${cmd.modelId} is not configured`)
      return [{ type: 'ModelRemoved', data: { modelId: cmd.modelId } }]
    case 'ConfigureMcpServer':
      validateMcpServer(cmd.settings)
      return JSON.stringify(state.mcpServers[cmd.settings.serverId]) === JSON.stringify(cmd.settings) ? [] : [{ type: 'McpServerConfigured', data: cmd.settings }]
    case 'RemoveMcpServer':
      if (!state.mcpServers[cmd.serverId]) throw new CommandError('NOT_FOUND', `MCP server ${cmd.serverId} is not configured`)
      return [{ type: 'McpServerRemoved', data: { serverId: cmd.serverId } }]
    case 'SetSystemPrompt':
      if (cmd.prompt.length > 100_000) throw invalidInput('system prompt is longer than 100,000 characters')
      return [{ type: 'SystemPromptSet', data: { prompt: cmd.prompt } }]
    case 'SetDisabledTools':
      return [{ type: 'ToolPolicySet', data: { disabledTools: [...new Set(cmd.disabledTools)].sort() } }]
    case 'SetChatRetention':
      if (cmd.days !== null && !(Number.isInteger(cmd.days) && cmd.days >= 1 && cmd.days <= MAX_RETENTION_DAYS))
        throw invalidInput(`chat retention is a whole number of days from 1 to ${MAX_RETENTION_DAYS}, or null to keep every chat's rows; got ${cmd.days}`)
      return state.chatRetentionDays === cmd.days ? [] : [{ type: 'ChatRetentionSet', data: { days: cmd.days } }]
    case 'SetApprovalPolicy':
      return [{ type: 'ApprovalPolicySet', data: validateApprovalPolicy(cmd.policy) }]
    case 'SetModelOverrides': {
      const next = { ...state.modelOverrides }
      for (const job of OVERRIDE_JOBS) {
        const modelId = cmd.overrides[job]
        if (modelId === undefined) continue
        if (modelId !== null) {
          const model = state.models[modelId]
          const enabled = Object.values(state.models).filter((m) => m.enabled).map((m) => m.modelId).sort()
          if (!model) throw invalidInput(`the ${job} override names model ${JSON.stringify(modelId)}, which is not configured; use one of: ${enabled.join(', ') || 'no model is enabled'}`)
          if (!model.enabled) throw invalidInput(`the ${job} override names model ${modelId}, which is disabled; enable it first or use one of: ${enabled.join(', ') || 'no model is enabled'}`)
        }
        next[job] = modelId
      }
      return OVERRIDE_JOBS.every((job) => next[job] === state.modelOverrides[job]) ? [] : [{ type: 'ModelOverridesSet', data: next }]
    }
    case 'SetSubAgentLimit':
      if (!(Number.isInteger(cmd.maxActive) && cmd.maxActive >= 1 && cmd.maxActive <= MAX_SUB_AGENT_LIMIT))
        throw invalidInput(`the sub-agent limit is a whole number from 1 to ${MAX_SUB_AGENT_LIMIT}; got ${cmd.maxActive}`)
      return state.maxActiveSubAgents === cmd.maxActive ? [] : [{ type: 'SubAgentLimitSet', data: { maxActive: cmd.maxActive } }]
    case 'SetDebugLogging':
      if (!(Number.isInteger(cmd.retentionDays) && cmd.retentionDays >= 1 && cmd.retentionDays <= MAX_DEBUG_LOG_RETENTION_DAYS))
        throw invalidInput(`debug log retention is a whole number of days from 1 to ${MAX_DEBUG_LOG_RETENTION_DAYS}; got ${cmd.retentionDays}`)
      return state.debugLogging.enabled === cmd.enabled && state.debugLogging.retentionDays === cmd.retentionDays
        ? []
        : [{ type: 'DebugLoggingSet', data: { enabled: cmd.enabled, retentionDays: cmd.retentionDays } }]
    case 'SetBudget': {
      const budget = validateBudget(cmd.budget)
      const current = state.budgets[budgetKey(budget)]?.limitMicros ?? null
      return current === budget.limitMicros ? [] : [{ type: 'BudgetSet', data: budget }]
    }
  }
}

export function evolveConfig(state: ConfigState, event: ConfigEvent): ConfigState {
  switch (event.type) {
    case 'ProviderConfigured': {
      const previous = state.providers[event.data.providerId]
      return {
        ...state,
        providers: { ...state.providers, [event.data.providerId]: { ...event.data, keyFingerprint: previous?.keyFingerprint ?? null } },
      }
    }
    case 'ProviderApiKeySet': {
      const p = state.providers[event.data.providerId]
      if (!p) return state
      return { ...state, providers: { ...state.providers, [p.providerId]: { ...p, keyFingerprint: event.data.fingerprint } } }
    }
    case 'ProviderRemoved': {
      const { [event.data.providerId]: _gone, ...providers } = state.providers
      return { ...state, providers }
    }
    case 'ModelConfigured': {
      const models = { ...state.models }
      // One default at a time: the newest default wins.
      if (event.data.isDefault) for (const [id, m] of Object.entries(models)) models[id] = { ...m, isDefault: false }
      models[event.data.modelId] = event.data
      return { ...state, models }
    }
    case 'ModelRemoved': {
      const { [event.data.modelId]: _gone, ...models } = state.models
      return { ...state, models }
    }
    case 'McpServerConfigured':
      return { ...state, mcpServers: { ...state.mcpServers, [event.data.serverId]: event.data } }
    case 'McpServerRemoved': {
      const { [event.data.serverId]: _removed, ...mcpServers } = state.mcpServers
      return { ...state, mcpServers }
    }
    case 'SystemPromptSet':
      return { ...state, systemPrompt: event.data.prompt }
    case 'ToolPolicySet':
      return { ...state, disabledTools: event.data.disabledTools }
    case 'ChatRetentionSet':
      return { ...state, chatRetentionDays: event.data.days }
    case 'ApprovalPolicySet': {
      const key = approvalPolicyKey(event.data.organizationId, event.data.templateId)
      const { [key]: _old, ...rest } = state.approvalPolicies
      return { ...state, approvalPolicies: event.data.rules.length ? { ...rest, [key]: event.data } : rest }
    }
    case 'ModelOverridesSet':
      return { ...state, modelOverrides: event.data }
    case 'SubAgentLimitSet':
      return { ...state, maxActiveSubAgents: event.data.maxActive }
    case 'DebugLoggingSet':
      return { ...state, debugLogging: event.data }
    case 'BudgetSet': {
      const { [budgetKey(event.data)]: _old, ...rest } = state.budgets
      return { ...state, budgets: event.data.limitMicros === null ? rest : { ...rest, [budgetKey(event.data)]: event.data } }
    }
  }
}

export const configDecider: Decider<ConfigCommand, ConfigState, ConfigEvent> = {
  decide: decideConfig,
  evolve: evolveConfig,
  initialState: initialConfigState,
}
