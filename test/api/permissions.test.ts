// The permission matrix: every query, mutation and subscription of the schema (a field without a
// row fails the test), for each kind of caller, on a real server. A refusal appends nothing, and
// where telling "refused" from "missing" would leak that something exists, the answer is byte for
// byte the one a missing id gets.
import { randomUUID } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { buildSchema, type GraphQLObjectType } from 'graphql'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { chatStream, DEFAULT_ORGANIZATION_ID } from '../../src/events/index.ts'
import { issueToken } from '../../src/identity/index.ts'
import { backends } from '../support/databases.ts'
import { firstOutcome, startApiServer, type ApiServer } from './harness.ts'

/**
 * owner: a member with agents-access, owner of the chats and workspaces the rows act on;
 * noAgents: a member without agents-access; auditor, admin: of the default organization;
 * otherAdmin: admin (with agents-access) of another organization, acting in it;
 * outsider: the same person acting in the default organization (X-Cairn-Organization), where they hold no role.
 */
type Caller = 'anonymous' | 'owner' | 'noAgents' | 'auditor' | 'admin' | 'otherAdmin' | 'outsider'
const CALLERS: Caller[] = ['anonymous', 'owner', 'noAgents', 'auditor', 'admin', 'otherAdmin', 'outsider']
/** 'ok', or the extensions.code the caller gets; 'hidden' = ok, but the default organization's item is not in the answer. */
type Expect = 'ok' | 'hidden' | 'UNAUTHENTICATED' | 'FORBIDDEN' | 'NOT_FOUND' | 'CHAT_NOT_FOUND' | 'CLOSED_4403'
type Table = Record<Exclude<Caller, 'anonymous'>, Expect>

const table = (t: Table, anonymous: Expect = 'UNAUTHENTICATED'): Record<Caller, Expect> => ({ anonymous, ...t })
const NF = 'CHAT_NOT_FOUND'
const readChat = table({ owner: 'ok', noAgents: NF, auditor: 'ok', admin: 'ok', otherAdmin: NF, outsider: NF })
const changeChat = table({ owner: 'ok', noAgents: NF, auditor: 'FORBIDDEN', admin: 'ok', otherAdmin: NF, outsider: NF })
const anyone = table({ owner: 'ok', noAgents: 'ok', auditor: 'ok', admin: 'ok', otherAdmin: 'ok', outsider: 'ok' })
const instanceAdmin = table({ owner: 'FORBIDDEN', noAgents: 'FORBIDDEN', auditor: 'FORBIDDEN', admin: 'ok', otherAdmin: 'FORBIDDEN', outsider: 'FORBIDDEN' })
/** Admins of the organization the request acts in (the other admin administers their own). */
const orgAdmin = table({ owner: 'FORBIDDEN', noAgents: 'FORBIDDEN', auditor: 'FORBIDDEN', admin: 'ok', otherAdmin: 'hidden', outsider: 'FORBIDDEN' })
/** Listings of the organization the request acts in. */
const memberListing = (member: Expect) => table({ owner: 'ok', noAgents: member, auditor: 'ok', admin: 'ok', otherAdmin: 'hidden', outsider: 'FORBIDDEN' })
const WS_NF = 'NOT_FOUND'
const readWorkspace = table({ owner: 'ok', noAgents: WS_NF, auditor: 'ok', admin: 'ok', otherAdmin: WS_NF, outsider: 'FORBIDDEN' })
/** Workspaces an auditor may read but not change answer like missing ones. */
const changeWorkspace = table({ owner: 'ok', noAgents: WS_NF, auditor: WS_NF, admin: 'ok', otherAdmin: WS_NF, outsider: 'FORBIDDEN' })
const manageMembers = table({ owner: 'FORBIDDEN', noAgents: 'FORBIDDEN', auditor: 'FORBIDDEN', admin: 'ok', otherAdmin: 'NOT_FOUND', outsider: 'NOT_FOUND' })

interface Setup {
  chatId: string
  queueId: string
  questionId: string
  callId: string
  workspaceId: string
  templateId: string
  mcpServerId: string
  tokenId: string
  orgName: string
}

type Needs = 'queue' | 'question' | 'approval' | 'workspace' | 'template' | 'mcp' | 'token'

interface Row {
  name: string
  query: string
  variables: (s: Setup) => Record<string, unknown>
  expect: Record<Caller, Expect>
  /** For a listing: whether the default organization's item is in the answer. */
  lists?: (data: any, s: Setup) => boolean
  /** What a fresh fixture the row acts on needs (mutations get a fresh chat each; these add to it). */
  needs?: Needs
  /** The same variables naming an id that does not exist: for comparing a not-found refusal. */
  missing?: (s: Setup) => Record<string, unknown>
}

const chatVars = (s: Setup) => ({ chatId: s.chatId })
const missingChat = (s: Setup) => ({ ...chatVars(s), chatId: randomUUID() })
const onChat = (name: string, query: string, expect: Record<Caller, Expect>, extra: Partial<Row> = {}): Row => ({
  name,
  query,
  variables: chatVars,
  expect,
  missing: (s) => ({ ...(extra.variables ?? chatVars)(s), chatId: randomUUID() }),
  ...extra,
})
const m = (field: string, args: string, vars: string, selection = '{ id }') => `mutation(${vars}) { ${field}(${args}) ${selection} }`

const QUERIES: Row[] = [
  { name: 'me', query: '{ me { id role agentsAccess organizations { organization { name } roles } } }', variables: () => ({}), expect: anyone },
  onChat('chat', 'query($chatId: ID!) { chat(id: $chatId) { id title } }', readChat),
  {
    name: 'chats',
    query: '{ chats(first: 100) { nodes { id } } }',
    variables: () => ({}),
    expect: table({ owner: 'ok', noAgents: 'hidden', auditor: 'ok', admin: 'ok', otherAdmin: 'hidden', outsider: 'FORBIDDEN' }),
    lists: (d, s) => d.chats.nodes.some((c: { id: string }) => c.id === s.chatId),
  },
  onChat('chatMessages', 'query($chatId: ID!) { chatMessages(chatId: $chatId) { nodes { id } } }', readChat),
  onChat('chatContext', 'query($chatId: ID!) { chatContext(chatId: $chatId, atRevision: 0) { systemPrompt } }', readChat),
  onChat('chatEvents', 'query($chatId: ID!) { chatEvents(chatId: $chatId) { revision } }', readChat),
  {
    name: 'auditLog',
    query: '{ auditLog(first: 200) { nodes { chatId } } }',
    variables: () => ({}),
    expect: table({ owner: 'FORBIDDEN', noAgents: 'FORBIDDEN', auditor: 'ok', admin: 'ok', otherAdmin: 'hidden', outsider: 'FORBIDDEN' }),
    lists: (d, s) => d.auditLog.nodes.some((e: { chatId: string | null }) => e.chatId === s.chatId),
  },
  onChat('verifyChat', 'query($chatId: ID!) { verifyChat(chatId: $chatId) { ok events } }', table({ owner: 'FORBIDDEN', noAgents: 'FORBIDDEN', auditor: 'ok', admin: 'ok', otherAdmin: NF, outsider: 'FORBIDDEN' })),
  { name: 'models', query: '{ models { id } }', variables: () => ({}), expect: anyone },
  { name: 'providers', query: '{ providers { id } }', variables: () => ({}), expect: instanceAdmin },
  { name: 'systemPrompt', query: '{ systemPrompt }', variables: () => ({}), expect: instanceAdmin },
  { name: 'disabledTools', query: '{ disabledTools }', variables: () => ({}), expect: anyone },
  { name: 'chatRetentionDays', query: '{ chatRetentionDays }', variables: () => ({}), expect: instanceAdmin },
  { name: 'mcpServers', query: '{ mcpServers { id } }', variables: () => ({}), expect: instanceAdmin },
  { name: 'modelOverrides', query: '{ modelOverrides { subAgents } }', variables: () => ({}), expect: instanceAdmin },
  { name: 'subAgentLimit', query: '{ subAgentLimit }', variables: () => ({}), expect: instanceAdmin },
  {
    name: 'templates',
    query: '{ templates { id } }',
    variables: () => ({}),
    expect: memberListing('ok'),
    lists: (d, s) => d.templates.some((t: { id: string }) => t.id === s.templateId),
  },
  {
    name: 'template',
    query: 'query($id: ID!) { template(id: $id) { id } }',
    variables: (s) => ({ id: s.templateId }),
    expect: table({ owner: 'ok', noAgents: 'ok', auditor: 'ok', admin: 'ok', otherAdmin: 'NOT_FOUND', outsider: 'FORBIDDEN' }),
    missing: () => ({ id: randomUUID() }),
  },
  {
    name: 'workspaces',
    query: '{ workspaces { id } }',
    variables: () => ({}),
    expect: memberListing('hidden'),
    lists: (d, s) => d.workspaces.some((w: { id: string }) => w.id === s.workspaceId),
  },
  { name: 'workspace', query: 'query($id: ID!) { workspace(id: $id) { id } }', variables: (s) => ({ id: s.workspaceId }), expect: readWorkspace, missing: () => ({ id: randomUUID() }) },
  { name: 'approvalPolicies', query: '{ approvalPolicies { orgId } }', variables: () => ({}), expect: orgAdmin, lists: (d) => d.approvalPolicies.some((p: { orgId: string }) => p.orgId === DEFAULT_ORGANIZATION_ID) },
  { name: 'chatDebugLogging', query: '{ chatDebugLogging { enabled } }', variables: () => ({}), expect: instanceAdmin },
  { name: 'myChatDebugLogging', query: '{ myChatDebugLogging }', variables: () => ({}), expect: anyone },
  onChat('chatDebugLog', 'query($chatId: ID!) { chatDebugLog(chatId: $chatId) { nodes { id } } }', table({ owner: 'ok', noAgents: NF, auditor: 'FORBIDDEN', admin: 'ok', otherAdmin: NF, outsider: NF })),
  { name: 'budgets', query: '{ budgets { orgId } }', variables: () => ({}), expect: orgAdmin, lists: (d) => d.budgets.some((b: { orgId: string }) => b.orgId === DEFAULT_ORGANIZATION_ID) },
  { name: "usage (one's own)", query: '{ usage(groupBy: [USER]) { costMicros } }', variables: () => ({}), expect: anyone },
  { name: 'organizations', query: '{ organizations { id name } }', variables: () => ({}), expect: anyone },
  {
    name: 'members',
    query: 'query($o: ID) { members(orgId: $o) { id email } }',
    variables: () => ({ o: null }),
    missing: () => ({ o: randomUUID() }),
    expect: table({ owner: 'FORBIDDEN', noAgents: 'FORBIDDEN', auditor: 'FORBIDDEN', admin: 'ok', otherAdmin: 'hidden', outsider: 'NOT_FOUND' }),
    lists: (d) => d.members.some((u: { email: string }) => u.email === 'owner@example.com'),
  },
  {
    name: 'apiTokens (the owner\'s)',
    query: 'query($u: ID!) { apiTokens(userId: $u) { id } }',
    variables: (s) => ({ u: ownerIdOf(s) }),
    expect: table({ owner: 'ok', noAgents: 'NOT_FOUND', auditor: 'NOT_FOUND', admin: 'ok', otherAdmin: 'NOT_FOUND', outsider: 'NOT_FOUND' }),
    missing: () => ({ u: randomUUID() }),
  },
]

/** The owner's user id, filled in beforeAll (rows are built before it). */
let ownerUserId = ''
const ownerIdOf = (_s: Setup) => ownerUserId

const MUTATIONS: Row[] = [
  {
    name: 'createChat',
    query: 'mutation { createChat(input: { title: "new" }) { id } }',
    variables: () => ({}),
    expect: table({ owner: 'ok', noAgents: 'FORBIDDEN', auditor: 'FORBIDDEN', admin: 'ok', otherAdmin: 'ok', outsider: 'FORBIDDEN' }),
  },
  onChat('sendMessage', 'mutation($chatId: ID!) { sendMessage(input: { chatId: $chatId, text: "hi" }) { messageId } }', changeChat),
  onChat('interruptChat', m('interruptChat', 'chatId: $chatId', '$chatId: ID!'), changeChat),
  onChat('forkChat', m('forkChat', 'chatId: $chatId, atRevision: 0', '$chatId: ID!'), changeChat),
  onChat('removeQueuedMessage', m('removeQueuedMessage', 'chatId: $chatId, queueId: $q', '$chatId: ID!, $q: ID!'), changeChat, { variables: (s) => ({ chatId: s.chatId, q: s.queueId }), needs: 'queue' }),
  onChat('promoteQueuedMessage', m('promoteQueuedMessage', 'chatId: $chatId, queueId: $q', '$chatId: ID!, $q: ID!'), changeChat, { variables: (s) => ({ chatId: s.chatId, q: s.queueId }), needs: 'queue' }),
  onChat('renameChat', m('renameChat', 'chatId: $chatId, title: "renamed"', '$chatId: ID!'), changeChat),
  onChat('archiveChat', m('archiveChat', 'chatId: $chatId', '$chatId: ID!'), changeChat),
  onChat('unarchiveChat', m('unarchiveChat', 'chatId: $chatId', '$chatId: ID!'), changeChat),
  onChat('setChatModel', m('setChatModel', 'chatId: $chatId, modelId: "gpt"', '$chatId: ID!'), changeChat),
  onChat('setPlanMode', m('setPlanMode', 'chatId: $chatId, planMode: true', '$chatId: ID!'), changeChat),
  onChat('answerQuestion', m('answerQuestion', 'chatId: $chatId, questionId: $q, answer: "yes"', '$chatId: ID!, $q: ID!'), changeChat, { variables: (s) => ({ chatId: s.chatId, q: s.questionId }), needs: 'question' }),
  onChat('compactChat', m('compactChat', 'chatId: $chatId', '$chatId: ID!'), changeChat),
  onChat('approveToolCall', m('approveToolCall', 'chatId: $chatId, callId: $c', '$chatId: ID!, $c: ID!'), changeChat, { variables: (s) => ({ chatId: s.chatId, c: s.callId }), needs: 'approval' }),
  onChat('denyToolCall', m('denyToolCall', 'chatId: $chatId, callId: $c, reason: "no"', '$chatId: ID!, $c: ID!'), changeChat, { variables: (s) => ({ chatId: s.chatId, c: s.callId }), needs: 'approval' }),
  onChat('setChatMcpServer', m('setChatMcpServer', 'chatId: $chatId, serverId: $sv, enabled: false', '$chatId: ID!, $sv: ID!'), changeChat, { variables: (s) => ({ chatId: s.chatId, sv: s.mcpServerId }), needs: 'mcp' }),
  { name: 'configureMcpServer', query: 'mutation($id: ID!) { configureMcpServer(input: { id: $id, url: "http://127.0.0.1:9/mcp" }) { id } }', variables: () => ({ id: `m${randomUUID().slice(0, 8)}` }), expect: instanceAdmin },
  { name: 'removeMcpServer', query: 'mutation($id: ID!) { removeMcpServer(id: $id) }', variables: (s) => ({ id: s.mcpServerId }), expect: instanceAdmin, needs: 'mcp' },
  { name: 'configureProvider', query: 'mutation { configureProvider(input: { id: "extra", kind: openai_compatible, baseUrl: "http://127.0.0.1:9/v1" }) { id } }', variables: () => ({}), expect: instanceAdmin },
  { name: 'configureModel', query: 'mutation { configureModel(input: { id: "extra-model", providerId: "test", modelName: "m", enabled: false }) { id } }', variables: () => ({}), expect: instanceAdmin },
  { name: 'setSystemPrompt', query: 'mutation { setSystemPrompt(prompt: "Be brief.") }', variables: () => ({}), expect: instanceAdmin },
  { name: 'setDisabledTools', query: 'mutation { setDisabledTools(tools: []) }', variables: () => ({}), expect: instanceAdmin },
  { name: 'setChatRetention', query: 'mutation { setChatRetention(days: 3650) }', variables: () => ({}), expect: instanceAdmin },
  { name: 'runChatRetention', query: 'mutation { runChatRetention { archivedChats } }', variables: () => ({}), expect: instanceAdmin },
  { name: 'setModelOverrides', query: 'mutation { setModelOverrides(input: { titles: null }) { titles } }', variables: () => ({}), expect: instanceAdmin },
  { name: 'setSubAgentLimit', query: 'mutation { setSubAgentLimit(max: 10) }', variables: () => ({}), expect: instanceAdmin },
  {
    name: 'createTemplate',
    query: 'mutation($n: String!) { createTemplate(input: { name: $n, description: "d", provisioner: { kind: "local" } }) { id } }',
    variables: () => ({ n: `t-${randomUUID().slice(0, 8)}` }),
    expect: table({ owner: 'FORBIDDEN', noAgents: 'FORBIDDEN', auditor: 'FORBIDDEN', admin: 'ok', otherAdmin: 'ok', outsider: 'FORBIDDEN' }),
  },
  {
    name: 'updateTemplate',
    query: 'mutation($id: ID!) { updateTemplate(id: $id, input: { name: "renamed", description: "d", provisioner: { kind: "local" } }) { id } }',
    variables: (s) => ({ id: s.templateId }),
    expect: table({ owner: 'FORBIDDEN', noAgents: 'FORBIDDEN', auditor: 'FORBIDDEN', admin: 'ok', otherAdmin: 'NOT_FOUND', outsider: 'FORBIDDEN' }),
    needs: 'template',
    missing: () => ({ id: randomUUID() }),
  },
  {
    name: 'archiveTemplate',
    query: 'mutation($id: ID!) { archiveTemplate(id: $id) }',
    variables: (s) => ({ id: s.templateId }),
    expect: table({ owner: 'FORBIDDEN', noAgents: 'FORBIDDEN', auditor: 'FORBIDDEN', admin: 'ok', otherAdmin: 'NOT_FOUND', outsider: 'FORBIDDEN' }),
    needs: 'template',
    missing: () => ({ id: randomUUID() }),
  },
  {
    name: 'createWorkspace',
    query: 'mutation($t: ID!) { createWorkspace(input: { templateId: $t }) { id } }',
    variables: (s) => ({ t: s.templateId }),
    expect: table({ owner: 'ok', noAgents: 'ok', auditor: 'NOT_FOUND', admin: 'ok', otherAdmin: 'NOT_FOUND', outsider: 'FORBIDDEN' }),
    missing: () => ({ t: randomUUID() }),
  },
  { name: 'startWorkspace', query: m('startWorkspace', 'id: $id', '$id: ID!'), variables: (s) => ({ id: s.workspaceId }), expect: changeWorkspace, needs: 'workspace', missing: () => ({ id: randomUUID() }) },
  { name: 'stopWorkspace', query: m('stopWorkspace', 'id: $id', '$id: ID!'), variables: (s) => ({ id: s.workspaceId }), expect: changeWorkspace, needs: 'workspace', missing: () => ({ id: randomUUID() }) },
  { name: 'deleteWorkspace', query: m('deleteWorkspace', 'id: $id', '$id: ID!'), variables: (s) => ({ id: s.workspaceId }), expect: changeWorkspace, needs: 'workspace', missing: () => ({ id: randomUUID() }) },
  {
    name: 'setApprovalPolicy (the default organization)',
    query: 'mutation { setApprovalPolicy(input: { rules: [{ tool: "execute", commandPattern: "git push" }] }) { orgId } }',
    variables: () => ({}),
    expect: instanceAdmin,
  },
  { name: 'setChatDebugLogging', query: 'mutation { setChatDebugLogging(enabled: false) { enabled } }', variables: () => ({}), expect: instanceAdmin },
  { name: 'setMyChatDebugLogging', query: 'mutation { setMyChatDebugLogging(enabled: false) }', variables: () => ({}), expect: anyone },
  {
    name: 'setBudget',
    query: 'mutation { setBudget(input: { scope: CHAT, limitMicros: 1000000000 }) { budget { limitMicros } } }',
    variables: () => ({}),
    expect: table({ owner: 'FORBIDDEN', noAgents: 'FORBIDDEN', auditor: 'FORBIDDEN', admin: 'ok', otherAdmin: 'ok', outsider: 'FORBIDDEN' }),
  },
  { name: 'createOrganization', query: 'mutation($n: String!) { createOrganization(name: $n) { id } }', variables: (s) => ({ n: s.orgName }), expect: instanceAdmin },
  {
    name: 'grantRole (in the default organization)',
    query: 'mutation($o: ID!) { grantRole(input: { email: "target@example.com", orgId: $o, role: AUDITOR }) { roles } }',
    variables: () => ({ o: DEFAULT_ORGANIZATION_ID }),
    expect: manageMembers,
    missing: () => ({ o: randomUUID() }),
  },
  {
    name: 'revokeRole (in the default organization)',
    query: 'mutation($o: ID!) { revokeRole(input: { email: "target@example.com", orgId: $o, role: AUDITOR }) { roles } }',
    variables: () => ({ o: DEFAULT_ORGANIZATION_ID }),
    expect: manageMembers,
    missing: () => ({ o: randomUUID() }),
  },
  { name: 'issueApiToken', query: 'mutation { issueApiToken(label: "ci") { apiToken { id } } }', variables: () => ({}), expect: anyone },
  {
    name: "revokeApiToken (the owner's)",
    query: 'mutation($t: ID!) { revokeApiToken(tokenId: $t) { revoked } }',
    variables: (s) => ({ t: s.tokenId }),
    expect: table({ owner: 'ok', noAgents: 'NOT_FOUND', auditor: 'NOT_FOUND', admin: 'ok', otherAdmin: 'NOT_FOUND', outsider: 'NOT_FOUND' }),
    needs: 'token',
    missing: () => ({ t: randomUUID() }),
  },
]

const SUBSCRIPTIONS: Row[] = [
  onChat('chatEvents', 'subscription($chatId: ID!) { chatEvents(chatId: $chatId) { revision } }', { ...readChat, anonymous: 'CLOSED_4403' }),
  onChat('chatStream', 'subscription($chatId: ID!) { chatStream(chatId: $chatId) { __typename } }', { ...readChat, anonymous: 'CLOSED_4403' }),
  { name: 'myChats', query: 'subscription { myChats { kind } }', variables: () => ({}), expect: { ...anyone, anonymous: 'CLOSED_4403', outsider: 'FORBIDDEN' } },
  {
    name: 'workspaceBuildLog',
    query: 'subscription($id: ID!) { workspaceBuildLog(workspaceId: $id) { done } }',
    variables: (s) => ({ id: s.workspaceId }),
    expect: { ...readWorkspace, anonymous: 'CLOSED_4403' },
    missing: () => ({ id: randomUUID() }),
  },
]

// The matrix runs on one backend (PostgreSQL when reachable): the rules are the API's, not the store's.
const backend = backends.find((b) => b.name === 'postgres' && b.available) ?? backends[0]!

describe(`the permission matrix on ${backend.name}`, () => {
  let server: ApiServer
  let close: () => Promise<void>
  const tokens = {} as Record<Caller, string | null>
  const organization = {} as Partial<Record<Caller, string>>
  let base: Setup

  beforeAll(async () => {
    const opened = await backend.open()
    close = opened.close
    server = await startApiServer(opened.db)
    const created = await server.gql('mutation { createOrganization(name: "globex") { id } }')
    const globex = created.body.data.createOrganization.id as string
    const owner = await server.user('owner@example.com', 'member')
    ownerUserId = owner.userId
    tokens.anonymous = null
    tokens.owner = owner.token
    tokens.noAgents = (await server.user('no-agents@example.com', 'member', { agentsAccess: false })).token
    tokens.auditor = (await server.user('auditor@example.com', 'auditor')).token
    tokens.admin = server.adminToken
    tokens.otherAdmin = tokens.outsider = (await server.user('admin@globex.example', 'admin', { organizationId: globex })).token
    organization.outsider = 'default'
    await server.user('target@example.com', 'member')
    // Something of the other organization's in every listing, so "hidden" is not just "empty".
    await server.gql('mutation { createChat(input: { title: "globex chat" }) { id } }', {}, tokens.otherAdmin)
    await server.gql('mutation { setBudget(input: { scope: CHAT, limitMicros: 5 }) { budget { limitMicros } } }', {}, tokens.otherAdmin)
    await server.gql('mutation { setBudget(input: { scope: CHAT, limitMicros: 5 }) { budget { limitMicros } } }')
    await server.gql('mutation { setApprovalPolicy(input: { rules: [{ tool: "execute" }] }) { orgId } }')
    const template = await server.gql('mutation { createTemplate(input: { name: "local", description: "d", provisioner: { kind: "local" } }) { id } }')
    await server.gql('mutation { createTemplate(input: { name: "globex local", description: "d", provisioner: { kind: "local" } }) { id } }', {}, tokens.otherAdmin)
    expect(template.body.errors, template.text).toBeUndefined()
    base = { ...(await setup()), templateId: template.body.data.createTemplate.id }
    base.workspaceId = (await setup('workspace')).workspaceId
  })
  afterAll(async () => {
    await server?.close()
    await close?.()
  })

  const system = { actor: { kind: 'system' as const, id: 'test' } }
  const event = (type: string, data: unknown) => ({ id: randomUUID(), type, data, metadata: system })

  /** A fresh chat of the owner's (with what the row needs) and the other fixtures. */
  async function setup(needs?: Needs): Promise<Setup> {
    const res = await server.gql('mutation { createChat(input: { title: "owned", firstMessage: "hi" }) { id } }', {}, tokens.owner)
    const chatId = res.body.data.createChat.id as string
    const s: Setup = { ...base, chatId, queueId: randomUUID(), questionId: randomUUID(), callId: randomUUID(), orgName: `org-${randomUUID().slice(0, 8)}` }
    // Written past the API: waited for by their own checkpoints (the head can lag behind a commit
    // while other transactions run).
    const written: string[] = []
    if (needs === 'queue') {
      written.push((await server.store.appendToStream(chatStream(chatId), [event('TurnStarted', { turnId: 't', runnerId: 'r', modelId: null })])).checkpoint)
      for (const text of ['a', 'b']) {
        const sent = await server.gql('mutation($c: ID!, $t: String!) { sendMessage(input: { chatId: $c, text: $t }) { messageId } }', { c: chatId, t: text }, tokens.owner)
        s.queueId = sent.body.data.sendMessage.messageId
      }
    }
    if (needs === 'question' || needs === 'approval') {
      const call = needs === 'question' ? s.questionId : s.callId
      const appended = await server.store.appendToStream(chatStream(chatId), [
        event('TurnStarted', { turnId: 't', runnerId: 'r', modelId: null }),
        event('ToolCallStarted', { turnId: 't', callId: call, name: needs === 'question' ? 'ask_user_question' : 'execute', arguments: { command: 'git push' } }),
        needs === 'question'
          ? event('QuestionAsked', { questionId: call, turnId: 't', callId: call, questions: [{ header: 'Go', question: 'go?', options: [] }] })
          : event('ToolCallApprovalRequested', { turnId: 't', callId: call, name: 'execute', arguments: { command: 'git push' }, rule: { tool: 'execute' }, expiresAt: new Date(Date.now() + 3_600_000).toISOString() }),
      ])
      written.push(appended.checkpoint)
    }
    if (needs === 'workspace') {
      const ws = await server.gql('mutation($t: ID!) { createWorkspace(input: { templateId: $t }) { id } }', { t: s.templateId }, tokens.owner)
      s.workspaceId = ws.body.data.createWorkspace.id
    }
    if (needs === 'template') {
      const t = await server.gql('mutation($n: String!) { createTemplate(input: { name: $n, description: "d", provisioner: { kind: "local" } }) { id } }', { n: `t-${randomUUID().slice(0, 8)}` })
      s.templateId = t.body.data.createTemplate.id
    }
    if (needs === 'mcp') {
      s.mcpServerId = `m${randomUUID().slice(0, 8)}`
      await server.gql('mutation($id: ID!) { configureMcpServer(input: { id: $id, url: "http://127.0.0.1:9/mcp" }) { id } }', { id: s.mcpServerId })
    }
    if (needs === 'token') {
      const issued = await issueToken(server.store, { userId: ownerUserId, label: 'spare' })
      s.tokenId = issued.tokenId
      written.push(issued.checkpoint)
    }
    for (const checkpoint of written) await server.engine.waitForAll(checkpoint)
    return s
  }

  /** An answer with the ids it was asked about replaced, so answers about two ids compare. */
  function withoutIds(text: string, variables: Record<string, unknown>): string {
    return Object.values(variables).reduce<string>((t, v) => (typeof v === 'string' && v.length >= 8 ? t.split(v).join('<id>') : t), text)
  }

  function outcomeOf(body: { data?: any; errors?: { extensions?: { code?: string } }[] }): string {
    return body.errors?.length ? (body.errors[0]!.extensions?.code ?? 'ERROR') : 'ok'
  }

  const cases = (rows: Row[], fresh: boolean) => rows.flatMap((row) => CALLERS.map((caller) => ({ row, caller, fresh, label: `${row.name} as ${caller}: ${row.expect[caller]}` })))

  it('has a row for every query, mutation and subscription of the schema', () => {
    const schema = buildSchema(readFileSync(new URL('../../schema.graphql', import.meta.url), 'utf8'))
    const fields = (type: string) => Object.keys((schema.getType(type) as GraphQLObjectType).getFields()).sort()
    const named = (rows: Row[]) => [...new Set(rows.map((r) => r.name.split(' ')[0]!))].sort()
    expect(named(QUERIES)).toEqual(fields('Query'))
    expect(named(MUTATIONS)).toEqual(fields('Mutation'))
    expect(named(SUBSCRIPTIONS)).toEqual(fields('Subscription'))
  })

  it.each([...cases(QUERIES, false), ...cases(MUTATIONS, true)])('$label', async ({ row, caller, fresh }) => {
    const s = fresh || row.needs ? await setup(row.needs) : base
    const requestId = randomUUID()
    const variables = row.variables(s)
    const res = await server.gql(row.query, variables, tokens[caller], { organization: organization[caller], requestId })
    const expected = row.expect[caller]
    if (expected === 'hidden' || (expected === 'ok' && row.lists)) {
      expect(outcomeOf(res.body), res.text).toBe('ok')
      expect(row.lists!(res.body.data, s)).toBe(expected === 'ok')
      return
    }
    expect(outcomeOf(res.body), res.text).toBe(expected)
    if (expected === 'ok') return
    // A refusal appends nothing: no event carries its request's correlation id (asked of the table
    // itself: a read of the log skips commits newer than a transaction still running)…
    const appended = await server.db.query(`select type from events where metadata->>'correlationId' = $1`, [requestId])
    expect(appended).toEqual([])
    expect(Object.values(res.body.data ?? {}).filter((v) => v !== null)).toEqual([])
    if (expected.endsWith('NOT_FOUND')) {
      // …and where it says "not found", it is byte for byte what an id that does not exist gets.
      expect(row.missing, `${row.name} needs a missing() to compare with`).toBeDefined()
      const other = row.missing!(s)
      const missing = await server.gql(row.query, other, tokens[caller], { organization: organization[caller] })
      expect(withoutIds(res.text, variables)).toBe(withoutIds(missing.text, other))
      expect(res.status).toBe(missing.status)
    }
  })

  it.each(cases(SUBSCRIPTIONS, false))('subscription $label', async ({ row, caller }) => {
    const s = base
    const expected = row.expect[caller]
    const quiet = row.name === 'myChats'
    const outcome = await firstOutcome(server.ws(tokens[caller], organization[caller]), row.query, row.variables(s), quiet ? 1500 : 10_000)
    if (expected === 'CLOSED_4403') {
      expect(outcome.kind).toBe('error')
      expect((outcome as { error: { code?: number } }).error.code).toBe(4403)
    } else if (expected === 'ok') {
      // myChats says nothing until a chat changes: no error within the wait is the pass.
      if (quiet && outcome.kind === 'error') expect((outcome.error as Error).message).toBe('timeout')
      else expect(outcome.kind, JSON.stringify(outcome)).toBe('data')
    } else {
      expect(outcome.kind).toBe('error')
      const errors = (outcome as { error: { extensions?: { code?: string } }[] }).error
      expect(errors[0]!.extensions?.code, JSON.stringify(errors)).toBe(expected)
      if (expected.endsWith('NOT_FOUND')) {
        const other = row.missing!(s)
        const missing = await firstOutcome(server.ws(tokens[caller], organization[caller]), row.query, other)
        expect(withoutIds(JSON.stringify(errors), row.variables(s))).toBe(withoutIds(JSON.stringify((missing as { error: unknown }).error), other))
      }
    }
  })

  it('tags what a request appends with its request id (what "appends nothing" above looks for)', async () => {
    const requestId = randomUUID()
    await server.gql('mutation($c: ID!) { renameChat(chatId: $c, title: "tagged") { id } }', { c: base.chatId }, tokens.owner, { requestId })
    expect(await server.db.query(`select type from events where metadata->>'correlationId' = $1`, [requestId])).toEqual([{ type: 'ChatRenamed' }])
  })

  it('lets a member list only their own chats even when asking for another owner', async () => {
    const res = await server.gql('query($o: ID!) { chats(filter: { ownerId: $o }, first: 200) { nodes { ownerId } } }', { o: ownerUserId }, tokens.noAgents)
    expect(res.body.errors).toBeUndefined()
    expect(res.body.data.chats.nodes.filter((c: { ownerId: string }) => c.ownerId === ownerUserId)).toEqual([])
  })
})
