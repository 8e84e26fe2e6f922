// Which tool calls wait for a person's approval: the admin's policies (config stream) for the
// chat's organization, narrowed by the policy of its workspace's template. See ARCHITECTURE.md.
import { approvalPolicyKey } from '../../commands/config/decide.ts'
import type { ConfigService } from '../config/service.ts'
import type { Sql } from '../db/database.ts'
import type { ApprovalRule, ToolCall } from '../events/chat.ts'
import type { ChatState } from '../events/chat-state.ts'
import type { Tool } from './tools/registry.ts'

const globCache = new Map<string, RegExp>()
function glob(pattern: string): RegExp {
  let re = globCache.get(pattern)
  if (!re) globCache.set(pattern, (re = new RegExp(`^${pattern.split('*').map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`)))
  return re
}

/** What a rule's commandPattern is tested on: `execute`'s command, else the arguments as JSON. */
function commandOf(call: Pick<ToolCall, 'name' | 'arguments'>): string {
  const command = (call.arguments as { command?: unknown } | null)?.command
  return typeof command === 'string' ? command : JSON.stringify(call.arguments ?? null)
}

/**
 * Whether `rule` holds `call`. `tool` is the tool as offered: a rule for destructive tools only
 * lets a call through when the tool's server declares it harmless; an unknown tool is asked about.
 */
export function ruleMatches(rule: ApprovalRule, call: Pick<ToolCall, 'name' | 'arguments'>, tool?: Pick<Tool, 'destructive'>): boolean {
  if (!glob(rule.tool).test(call.name)) return false
  if (rule.destructiveOnly && tool && tool.destructive !== true) return false
  if (!rule.commandPattern) return true
  try {
    return new RegExp(rule.commandPattern).test(commandOf(call))
  } catch {
    return true // validated when set; a pattern that no longer compiles asks rather than lets through
  }
}

const sameRule = (a: ApprovalRule, b: ApprovalRule) =>
  a.tool === b.tool && (a.commandPattern ?? null) === (b.commandPattern ?? null) && !!a.destructiveOnly === !!b.destructiveOnly

export class ApprovalPolicies {
  readonly #templates = new Map<string, string | null>()

  constructor(
    private readonly config: ConfigService,
    private readonly db: Sql,
  ) {}

  async #templateOf(workspaceId: string): Promise<string | null> {
    if (this.#templates.has(workspaceId)) return this.#templates.get(workspaceId)!
    const [row] = await this.db.query<{ template_id: string }>('select template_id from workspaces where id = $1', [workspaceId])
    const templateId = row?.template_id ?? null
    if (row) this.#templates.set(workspaceId, templateId) // a workspace's template never changes
    return templateId
  }

  /** The rule that makes this call wait, and when its request expires; null when it may run. */
  async check(
    chat: ChatState,
    call: Pick<ToolCall, 'name' | 'arguments'>,
    tool?: Pick<Tool, 'destructive'>,
    now = Date.now(),
  ): Promise<{ rule: ApprovalRule; expiresAt: string } | null> {
    const { approvalPolicies } = await this.config.current()
    if (Object.keys(approvalPolicies).length === 0) return null
    const policies = [approvalPolicies[approvalPolicyKey(chat.organizationId, null)]]
    if (chat.workspaceId) {
      const templateId = await this.#templateOf(chat.workspaceId)
      if (templateId) policies.push(approvalPolicies[approvalPolicyKey(chat.organizationId, templateId)])
    }
    for (const policy of policies) {
      if (!policy) continue
      const rule = policy.rules.find((r) => ruleMatches(r, call, tool))
      if (!rule) continue
      // Approved "for this chat": a call its approved rule covers runs without asking again.
      if (chat.approvedRules.some((r) => sameRule(r, rule))) continue
      return { rule, expiresAt: new Date(now + policy.expiresAfterSeconds * 1000).toISOString() }
    }
    return null
  }
}
