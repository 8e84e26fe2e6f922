// Every operation the UI sends, in one place.
const CHAT = 'id title status archived modelId ownerId workspaceId parentChatId rootChatId agentType planMode queueLength revision updatedAt lastError pendingQuestionId pendingApprovals { callId } forkOf { chatId revision } usage { costUsd inputTokens outputTokens } queue { queueId position parts }'

export const ME = 'query Me { me { id email name role agentsAccess canConfigureInstance organizationId organizations { organization { id name } } } }'
export const CHATS = `query Chats($filter: ChatFilter) { chats(first: 100, filter: $filter) { nodes { ${CHAT} } } }`
export const MY_CHATS = `subscription MyChats { myChats { kind chat { ${CHAT} } } }`
export const FORKS = `query Forks($chatId: ID!) { chats(first: 100, filter: { forkOf: $chatId }) { nodes { id title forkOf { chatId revision } createdAt } } }`
export const CHAT_QUERY = `query Chat($id: ID!) { chat(id: $id) { ${CHAT} } }`
export const MODELS = 'query Models { models { id displayName isDefault enabled contextWindow maxOutputTokens compactionThresholdPercent providerId modelName pricing { input output cacheRead cacheWrite } } }'
export const PROVIDERS = 'query Providers { providers { id kind displayName baseUrl apiKeySet keyFingerprint } }'
export const CREATE_CHAT = `mutation CreateChat($input: CreateChatInput!) { createChat(input: $input) { ${CHAT} } }`
export const SEND = `mutation Send($input: SendMessageInput!) { sendMessage(input: $input) { messageId queued chat { ${CHAT} } } }`
export const INTERRUPT = `mutation Interrupt($chatId: ID!) { interruptChat(chatId: $chatId) { ${CHAT} } }`
export const REMOVE_QUEUED = `mutation RemoveQueued($chatId: ID!, $queueId: ID!) { removeQueuedMessage(chatId: $chatId, queueId: $queueId) { ${CHAT} } }`
export const PROMOTE_QUEUED = `mutation PromoteQueued($chatId: ID!, $queueId: ID!) { promoteQueuedMessage(chatId: $chatId, queueId: $queueId, interrupt: true) { ${CHAT} } }`
export const FORK = `mutation Fork($chatId: ID!, $atRevision: Int!) { forkChat(chatId: $chatId, atRevision: $atRevision) { id } }`
/** One answer per question (an option's label or the user's words). */
export const ANSWER = `mutation Answer($chatId: ID!, $questionId: ID!, $answers: [String!]) { answerQuestion(chatId: $chatId, questionId: $questionId, answers: $answers) { ${CHAT} } }`
/** The chat a sub-agent was spawned from, for its breadcrumb. */
export const PARENT_CHAT = 'query ParentChat($id: ID!) { chat(id: $id) { id title status } }'
export interface SubAgentStatus {
  id: string
  title: string
  status: string
  archived: boolean
}
/** Each child's row, in one request: `chat(id:)` under an alias per child. */
export const subAgentsQuery = (count: number) =>
  count === 0
    ? 'query SubAgents { __typename }'
    : `query SubAgents(${Array.from({ length: count }, (_, i) => `$c${i}: ID!`).join(', ')}) { ${Array.from({ length: count }, (_, i) => `c${i}: chat(id: $c${i}) { id title status archived }`).join(' ')} }`
export const CHAT_EVENTS = `query ChatEvents($chatId: ID!, $from: Int!, $limit: Int!) {
  chatEvents(chatId: $chatId, fromRevision: $from, limit: $limit) { revision position type data actor { kind id onBehalfOf } occurredAt }
}`
export const CHAT_STREAM = `subscription ChatStream($chatId: ID!, $from: Int!) {
  chatStream(chatId: $chatId, fromRevision: $from) {
    __typename
    ... on ChatEventItem { event { revision position type data actor { kind id onBehalfOf } occurredAt } }
    ... on TextDelta { turnId delta seq }
    ... on ReasoningDelta { turnId delta seq }
    ... on ToolCallArgumentsDelta { turnId callId name delta seq }
    ... on StatusChanged { status turnId seq }
    ... on RetryCountdown { turnId attempt retryAt delayMs errorKind message seq }
  }
}`
export const SET_PLAN_MODE = `mutation SetPlanMode($chatId: ID!, $planMode: Boolean!) { setPlanMode(chatId: $chatId, planMode: $planMode) { ${CHAT} } }`
export const SYSTEM_PROMPT = 'query SystemPrompt { systemPrompt }'
export const SET_SYSTEM_PROMPT = 'mutation SetSystemPrompt($prompt: String!) { setSystemPrompt(prompt: $prompt) }'
export const TEMPLATES = 'query Templates { templates { id name description provisioner allowedRoles workspaceCount } }'
export const WORKSPACES = 'query Workspaces { workspaces { id name status } }'
export const CONFIGURE_PROVIDER = 'mutation ConfigureProvider($input: ProviderInput!) { configureProvider(input: $input) { id apiKeySet } }'
export const CONFIGURE_MODEL = 'mutation ConfigureModel($input: ModelInput!) { configureModel(input: $input) { id } }'
const TEMPLATE = 'id name description provisioner allowedRoles workspaceCount'
export const CREATE_TEMPLATE = `mutation CreateTemplate($input: TemplateInput!) { createTemplate(input: $input) { ${TEMPLATE} } }`
export const ARCHIVE_TEMPLATE = 'mutation ArchiveTemplate($id: ID!) { archiveTemplate(id: $id) }'
export const UPDATE_TEMPLATE = `mutation UpdateTemplate($id: ID!, $input: TemplateInput!) { updateTemplate(id: $id, input: $input) { ${TEMPLATE} } }`
/** Governance: approval policies, admin MCP servers (secrets write-only), model overrides, the sub-agent limit. */
export const APPROVAL_POLICIES = 'query ApprovalPolicies { approvalPolicies { orgId templateId rules { tool commandPattern destructiveOnly } expiresAfterSeconds } }'
export const SET_APPROVAL_POLICY = 'mutation SetApprovalPolicy($input: ApprovalPolicyInput!) { setApprovalPolicy(input: $input) { orgId templateId } }'
export const MCP_SERVERS = 'query McpServers { mcpServers { id url transport auth { kind tokenFingerprint headers { name fingerprint } } availability allowTools denyTools allowInPlanMode allowInSubAgents lastError } }'
export const CONFIGURE_MCP_SERVER = 'mutation ConfigureMcpServer($input: McpServerInput!) { configureMcpServer(input: $input) { id } }'
export const REMOVE_MCP_SERVER = 'mutation RemoveMcpServer($id: ID!) { removeMcpServer(id: $id) }'
export const MODEL_OVERRIDES = 'query ModelOverrides { modelOverrides { subAgents compaction titles } subAgentLimit }'
export const SET_MODEL_OVERRIDES = 'mutation SetModelOverrides($input: ModelOverridesInput!) { setModelOverrides(input: $input) { subAgents compaction titles } }'
export const SET_SUB_AGENT_LIMIT = 'mutation SetSubAgentLimit($max: Int!) { setSubAgentLimit(max: $max) }'
/** A call of the current turn that waits for approval. */
export const APPROVE_CALL = `mutation ApproveCall($chatId: ID!, $callId: ID!, $forChat: Boolean) { approveToolCall(chatId: $chatId, callId: $callId, forChat: $forChat) { ${CHAT} } }`
export const DENY_CALL = `mutation DenyCall($chatId: ID!, $callId: ID!, $reason: String) { denyToolCall(chatId: $chatId, callId: $callId, reason: $reason) { ${CHAT} } }`

export interface ChatSummary {
  id: string
  title: string
  status: string
  archived: boolean
  modelId: string | null
  ownerId: string
  workspaceId: string | null
  /** Set on a sub-agent's chat: the chat that spawned it, and the root of its tree. */
  parentChatId: string | null
  rootChatId: string | null
  agentType: string | null
  planMode: boolean
  queueLength: number
  revision: number
  updatedAt: string
  lastError: string | null
  pendingQuestionId: string | null
  pendingApprovals: { callId: string }[]
  forkOf: { chatId: string; revision: number } | null
  usage: { costUsd: number; inputTokens: number; outputTokens: number }
  queue: { queueId: string; position: number; parts: { type: string; text?: string }[] }[]
}

export interface Me {
  id: string
  email: string
  name: string
  /** In the organization the UI acts in; null when not a member of it. */
  role: 'ADMIN' | 'AUDITOR' | 'MEMBER' | null
  /** May create chats and send messages there. */
  agentsAccess: boolean
  /** Administers the instance (providers, models, system prompt, MCP servers, overrides): an admin of the default organization. */
  canConfigureInstance: boolean
  /** The organization the UI acts in. */
  organizationId: string
  organizations: { organization: { id: string; name: string } }[]
}

export const AUDIT_LOG = `query AuditLog($filter: AuditLogFilter, $after: String) {
  auditLog(filter: $filter, first: 50, after: $after) {
    nodes { position eventId eventType actor { kind id onBehalfOf } userId chatId stream revision summary occurredAt }
    pageInfo { hasNextPage endCursor }
  }
}`
export const VERIFY_CHAT = 'query VerifyChat($chatId: ID!) { verifyChat(chatId: $chatId) { ok streams events broken { stream kind revision message } } }'

export const MEMBERS = 'query Members { members { id email name roles } }'
export const GRANT_ROLE = 'mutation GrantRole($input: RoleChangeInput!) { grantRole(input: $input) { id roles } }'
export const REVOKE_ROLE = 'mutation RevokeRole($input: RoleChangeInput!) { revokeRole(input: $input) { id roles } }'
