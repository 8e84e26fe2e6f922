/** GraphQL resolvers for the `config` stream: admins configure; members see enabled models only. */
import { randomUUID } from 'node:crypto'
import { approvalPolicyKey, type ConfigState } from '../../commands/config/decide.ts'
import type { ApprovalPolicy } from '../events/config.ts'
import { DEFAULT_ORGANIZATION_ID } from '../events/user.ts'
import { CommandError, invalidInput } from '../../commands/errors.ts'
import type { ModelOverrides, ModelSettings } from '../events/config.ts'
import { canConfigure, isOrganizationAdmin, requirePrincipal } from '../identity/permissions.ts'
import type { ProviderKind } from '../providers/types.ts'
import { requireAdmin, configService, eventMetadata, type ApiContext } from './context.ts'
import { archiveOldChats, retentionCutoff } from '../audit/retention.ts'

const toGraphKind = (k: ProviderKind) => k.replace(/-/g, '_')
const fromGraphKind = (k: string) => k.replace(/_/g, '-') as ProviderKind

function providerView(state: ConfigState, id: string) {
  const p = state.providers[id]!
  return { ...p, id: p.providerId, kind: toGraphKind(p.kind), apiKeySet: p.keyFingerprint !== null, keyFingerprint: p.keyFingerprint }
}

function modelView(m: ModelSettings, admin: boolean) {
  return { ...m, id: m.modelId, providerId: admin ? m.providerId : null, modelName: admin ? m.modelName : null }
}

type Resolver<A> = (root: unknown, args: A, ctx: ApiContext) => Promise<unknown>

interface ApprovalPolicyInput {
  orgId?: string | null
  templateId?: string | null
  rules: { tool: string; commandPattern?: string | null; destructiveOnly?: boolean | null }[]
  expiresAfterSeconds?: number | null
}

const approvalPolicyView = (p: ApprovalPolicy) => ({
  orgId: p.organizationId,
  templateId: p.templateId,
  rules: p.rules.map((r) => ({ tool: r.tool, commandPattern: r.commandPattern ?? null, destructiveOnly: r.destructiveOnly === true })),
  expiresAfterSeconds: p.expiresAfterSeconds,
})

export const configQueryResolvers: Record<string, Resolver<any>> = {
  async approvalPolicies(_root, _args, ctx) {
    const principal = requirePrincipal(ctx.principal)
    if (!isOrganizationAdmin(principal, principal.organizationId)) throw new CommandError('FORBIDDEN', 'only admins of an organization read its approval policies')
    const policies = Object.values((await configService(ctx).current()).approvalPolicies)
    return policies.filter((p) => p.organizationId === principal.organizationId).map(approvalPolicyView)
  },
  async models(_root, _args, ctx) {
    const principal = requirePrincipal(ctx.principal)
    const admin = canConfigure(principal)
    const state = await configService(ctx).current()
    return Object.values(state.models)
      .filter((m) => admin || m.enabled)
      .map((m) => modelView(m, admin))
  },
  async providers(_root, _args, ctx) {
    requireAdmin(ctx)
    const state = await configService(ctx).current()
    return Object.keys(state.providers).map((id) => providerView(state, id))
  },
  async systemPrompt(_root, _args, ctx) {
    requireAdmin(ctx)
    return configService(ctx).systemPrompt()
  },
  async disabledTools(_root, _args, ctx) {
    requirePrincipal(ctx.principal)
    return (await configService(ctx).current()).disabledTools
  },
  async chatRetentionDays(_root, _args, ctx) {
    requireAdmin(ctx)
    return (await configService(ctx).current()).chatRetentionDays
  },
  async modelOverrides(_root, _args, ctx) {
    requireAdmin(ctx)
    return (await configService(ctx).current()).modelOverrides
  },
  async subAgentLimit(_root, _args, ctx) {
    requireAdmin(ctx)
    return (await configService(ctx).current()).maxActiveSubAgents
  },
}

interface ProviderInput {
  id: string
  kind: string
  displayName?: string | null
  baseUrl?: string | null
  apiKey?: string | null
  apiVersion?: string | null
  deployment?: string | null
  region?: string | null
}

interface ModelInput {
  id: string
  providerId: string
  modelName: string
  displayName?: string | null
  enabled: boolean
  isDefault: boolean
  contextWindow: number
  compactionThresholdPercent: number
  maxOutputTokens: number
  pricing?: { input: number; output: number; cacheRead: number; cacheWrite: number } | null
  api?: string | null
}

export const configMutationResolvers: Record<string, Resolver<any>> = {
  async configureProvider(_root, { input }: { input: ProviderInput }, ctx) {
    const principal = requireAdmin(ctx)
    const config = configService(ctx)
    const metadata = eventMetadata(ctx, principal, randomUUID())
    await config.execute(
      {
        type: 'ConfigureProvider',
        settings: {
          providerId: input.id,
          kind: fromGraphKind(input.kind),
          displayName: input.displayName ?? input.id,
          baseUrl: input.baseUrl ?? null,
          apiVersion: input.apiVersion ?? null,
          deployment: input.deployment ?? null,
          region: input.region ?? null,
        },
      },
      metadata,
    )
    // The key goes to the encrypted secret store; the log records only its fingerprint.
    if (input.apiKey != null) await config.setProviderApiKey(input.id, input.apiKey, metadata)
    return providerView(await config.current(), input.id)
  },
  async configureModel(_root, { input }: { input: ModelInput }, ctx) {
    const principal = requireAdmin(ctx)
    const config = configService(ctx)
    const api = input.api == null ? null : input.api.toLowerCase()
    if (api !== null && api !== 'chat' && api !== 'responses') throw invalidInput('api must be CHAT or RESPONSES')
    const state = await config.execute(
      {
        type: 'ConfigureModel',
        settings: {
          modelId: input.id,
          providerId: input.providerId,
          modelName: input.modelName,
          displayName: input.displayName ?? input.id,
          enabled: input.enabled,
          isDefault: input.isDefault,
          contextWindow: input.contextWindow,
          compactionThresholdPercent: input.compactionThresholdPercent,
          maxOutputTokens: input.maxOutputTokens,
          pricing: input.pricing ?? { input: 0, output: 0, cacheRead: 0, cacheWrite: 0 },
          api,
        },
      },
      eventMetadata(ctx, principal, randomUUID()),
    )
    return modelView(state.models[input.id]!, true)
  },
  async setSystemPrompt(_root, { prompt }: { prompt: string }, ctx) {
    const principal = requireAdmin(ctx)
    const state = await configService(ctx).execute({ type: 'SetSystemPrompt', prompt }, eventMetadata(ctx, principal, randomUUID()))
    return state.systemPrompt
  },
  async setDisabledTools(_root, { tools }: { tools: string[] }, ctx) {
    const principal = requireAdmin(ctx)
    const state = await configService(ctx).execute({ type: 'SetDisabledTools', disabledTools: tools }, eventMetadata(ctx, principal, randomUUID()))
    return state.disabledTools
  },
  async setChatRetention(_root, { days }: { days?: number | null }, ctx) {
    const principal = requireAdmin(ctx)
    const state = await configService(ctx).execute({ type: 'SetChatRetention', days: days ?? null }, eventMetadata(ctx, principal, randomUUID()))
    return state.chatRetentionDays
  },
  async setApprovalPolicy(_root, { input }: { input: ApprovalPolicyInput }, ctx) {
    const principal = requirePrincipal(ctx.principal)
    const organizationId = input.orgId ?? DEFAULT_ORGANIZATION_ID
    if (!isOrganizationAdmin(principal, organizationId)) throw new CommandError('FORBIDDEN', "only admins of an organization set its approval policy")
    const templateId = input.templateId ?? null
    if (templateId !== null && !(await ctx.api.db.query('select 1 from templates where id::text = $1 and organization_id::text = $2', [templateId, organizationId])).length)
      throw new CommandError('NOT_FOUND', `template ${templateId} not found`)
    const rules = input.rules.map((r) => ({
      tool: r.tool,
      ...(r.commandPattern != null ? { commandPattern: r.commandPattern } : {}),
      ...(r.destructiveOnly ? { destructiveOnly: true } : {}),
    }))
    const policy = { organizationId, templateId, rules, expiresAfterSeconds: input.expiresAfterSeconds ?? 3600 }
    const state = await configService(ctx).execute({ type: 'SetApprovalPolicy', policy }, eventMetadata(ctx, principal, randomUUID()))
    const set = state.approvalPolicies[approvalPolicyKey(organizationId, templateId)]
    return set ? approvalPolicyView(set) : null
  },
  async setModelOverrides(_root, { input }: { input: Partial<ModelOverrides> }, ctx) {
    const principal = requireAdmin(ctx)
    // A job left out of the input keeps its override; an explicit null clears it.
    const overrides = Object.fromEntries(Object.entries(input).filter(([job]) => job === 'subAgents' || job === 'compaction' || job === 'titles'))
    const state = await configService(ctx).execute({ type: 'SetModelOverrides', overrides }, eventMetadata(ctx, principal, randomUUID()))
    return state.modelOverrides
  },
  async setSubAgentLimit(_root, { max }: { max: number }, ctx) {
    const principal = requireAdmin(ctx)
    const state = await configService(ctx).execute({ type: 'SetSubAgentLimit', maxActive: max }, eventMetadata(ctx, principal, randomUUID()))
    return state.maxActiveSubAgents
  },
  async runChatRetention(_root, _args, ctx) {
    requireAdmin(ctx)
    const days = (await configService(ctx).current()).chatRetentionDays
    if (days === null) throw invalidInput('chat retention is off: set it first with setChatRetention(days: N)')
    const pass = await archiveOldChats(ctx.api.db, retentionCutoff(days, new Date()))
    return { days, archivedChats: pass.chats, archivedMessages: pass.messages }
  },
}
