// The chat view as a fold of chatStream items: stored events make the durable entries, the
// ephemeral deltas the text still streaming. Pure, so the browser batches items per frame.

export interface StoredChatEvent {
  revision: number
  position: string
  type: string
  data: any
  actor: { kind: string; id: string; onBehalfOf: string | null }
  occurredAt: string
}

export type StreamItem =
  | { __typename: 'ChatEventItem'; event: StoredChatEvent }
  | { __typename: 'TextDelta'; turnId: string; delta: string; seq: number }
  | { __typename: 'ReasoningDelta'; turnId: string; delta: string; seq: number }
  | { __typename: 'ToolCallArgumentsDelta'; turnId: string; callId: string; name: string | null; delta: string; seq: number }
  | { __typename: 'StatusChanged'; status: string; turnId: string | null; seq: number }
  | { __typename: 'RetryCountdown'; turnId: string; attempt: number; retryAt: string; delayMs: number; errorKind: string; message: string; seq: number }

export interface ToolCallView {
  id: string
  name: string
  arguments: any
  result?: string
  isError?: boolean
  images?: { attachmentId: string; mimeType: string }[]
  /** Set when an approval policy held the call (ToolCallApprovalRequested). */
  approval?: ApprovalView
}

/** A held call: waiting, decided (by whom, or expired), or left undecided by a turn that ended. */
export interface ApprovalView {
  turnId: string
  rule: { tool: string; commandPattern: string | null }
  expiresAt: string
  decision: { approved: true; by: string; forChat: boolean } | { approved: false; by: string | null; reason: string; expired: boolean } | null
  dismissed: boolean
}

export type Entry =
  | { kind: 'user'; revision: number; text: string; attachments: { attachmentId: string; name: string; mimeType: string }[]; occurredAt: string }
  | { kind: 'assistant'; revision: number; stepId: string; text: string; reasoning: string; toolCalls: ToolCallView[]; costUsd: number; tokens: number; interrupted: boolean }
  | { kind: 'marker'; revision: number; tone: 'info' | 'error'; text: string }
  | QuestionEntry
  | PlanEntry
  /** The end of a turn, with what its steps cost together. */
  | { kind: 'turn-end'; revision: number; outcome: 'completed' | 'stopped' | 'failed'; tokens: number; costUsd: number; message?: string }

export interface Question {
  header: string
  question: string
  options: { label: string; description: string }[]
}

/** `ask_user_question`: open until answered, or dismissed when its turn ended without an answer. */
export interface QuestionEntry {
  kind: 'question'
  revision: number
  questionId: string
  turnId: string
  questions: Question[]
  answer: { answers: string[]; freeText: boolean } | null
  dismissed: boolean
}

/** `propose_plan`: the plan file's text; `answered` once a message came after it. */
export interface PlanEntry {
  kind: 'plan'
  revision: number
  path: string
  plan: string
  sha256: string
  answered: boolean
}

/** A child chat the turn spawned (`spawn_agent`; its tool card shows it); `closed` after `close_agent`. */
export interface SubAgentEntry {
  revision: number
  childChatId: string
  agentType: string
  title: string
  prompt: string
  modelId: string | null
  closed: boolean
}

export interface LiveTurn {
  turnId: string
  text: string
  reasoning: string
  /** Characters of `text` / `reasoning` already shown by stored steps of this turn. */
  textShown: number
  reasoningShown: number
  toolArgs: { callId: string; name: string; args: string }[]
}

export interface ChatView {
  events: StoredChatEvent[]
  entries: Entry[]
  /** Where each tool call's entry is, to attach its result. */
  callIndex: Record<string, number>
  live: LiveTurn | null
  liveStatus: string | null
  retry: { attempt: number; retryAt: string; message: string } | null
  lastRevision: number
  /** Tokens and cost of each turn's steps so far. */
  turnUsage: Record<string, { tokens: number; costUsd: number }>
  /** The chat's sub-agents in the order they were spawned (the stored events seen so far). */
  subAgents: SubAgentEntry[]
}

export const emptyChatView = (): ChatView => ({ events: [], entries: [], callIndex: {}, live: null, liveStatus: null, retry: null, lastRevision: -1, turnUsage: {}, subAgents: [] })

const textOf = (parts: { type: string; text?: string }[] | undefined) =>
  (parts ?? []).filter((p) => p.type === 'text').map((p) => p.text ?? '').join('\n')

function liveFor(view: ChatView, turnId: string): LiveTurn {
  if (view.live?.turnId === turnId) return view.live
  return { turnId, text: '', reasoning: '', textShown: 0, reasoningShown: 0, toolArgs: [] }
}

function applyEvent(view: ChatView, e: StoredChatEvent): ChatView {
  if (e.revision <= view.lastRevision) return view // a repeat at the replay seam
  const entries = view.entries.slice()
  let { callIndex, live, retry, turnUsage, subAgents } = view
  const d = e.data
  /** Replaces the newest entry of `kind` that `match`es with `change(entry)`. */
  const update = <K extends Entry['kind']>(kind: K, match: (x: Extract<Entry, { kind: K }>) => boolean, change: (x: Extract<Entry, { kind: K }>) => Entry) => {
    for (let i = entries.length - 1; i >= 0; i--) {
      const x = entries[i]!
      if (x.kind === kind && match(x as Extract<Entry, { kind: K }>)) {
        entries[i] = change(x as Extract<Entry, { kind: K }>)
        return
      }
    }
  }
  /** Replaces the tool call `callId` of the step that made it (when that step is in the view). */
  const changeCall = (callId: string, change: (c: ToolCallView) => ToolCallView) => {
    const at = callIndex[callId]
    const entry = at === undefined ? undefined : entries[at]
    if (entry?.kind === 'assistant') entries[at!] = { ...entry, toolCalls: entry.toolCalls.map((c) => (c.id === callId ? change(c) : c)) }
  }
  const turnEnd = (outcome: 'completed' | 'stopped' | 'failed', message?: string) => {
    const usage = turnUsage[d.turnId] ?? { tokens: 0, costUsd: 0 }
    // A question its turn ended without an answer to was dismissed (an interrupt while it waited).
    update('question', (q) => q.turnId === d.turnId && !q.answer && !q.dismissed, (q) => ({ ...q, dismissed: true }))
    // Likewise a held call nobody decided (the turn was stopped while it waited).
    for (let i = entries.length - 1; i >= 0 && entries[i]!.kind !== 'turn-end'; i--) {
      const x = entries[i]!
      if (x.kind === 'assistant' && x.toolCalls.some((c) => c.approval && !c.approval.decision && !c.approval.dismissed))
        entries[i] = { ...x, toolCalls: x.toolCalls.map((c) => (c.approval && !c.approval.decision ? { ...c, approval: { ...c.approval, dismissed: true } } : c)) }
    }
    entries.push({ kind: 'turn-end', revision: e.revision, outcome, ...usage, ...(message ? { message } : {}) })
  }
  switch (e.type) {
    case 'UserMessagePosted':
      update('plan', (p) => !p.answered, (p) => ({ ...p, answered: true }))
      entries.push({
        kind: 'user',
        revision: e.revision,
        text: textOf(d.parts),
        attachments: (d.parts ?? []).filter((p: any) => p.type === 'attachment'),
        occurredAt: e.occurredAt,
      })
      break
    case 'AssistantStepCompleted': {
      const step = {
        kind: 'assistant' as const,
        revision: e.revision,
        stepId: d.stepId,
        text: d.text ?? '',
        reasoning: d.reasoning ?? '',
        toolCalls: (d.toolCalls ?? []).map((c: any) => ({ id: c.id, name: c.name, arguments: c.arguments })),
        costUsd: d.costUsd ?? 0,
        tokens: (d.usage?.inputTokens ?? 0) + (d.usage?.outputTokens ?? 0),
        interrupted: !!d.interrupted,
      }
      callIndex = { ...callIndex }
      for (const c of step.toolCalls) callIndex[c.id] = entries.length
      entries.push(step)
      const used = turnUsage[d.turnId] ?? { tokens: 0, costUsd: 0 }
      turnUsage = { ...turnUsage, [d.turnId]: { tokens: used.tokens + step.tokens, costUsd: used.costUsd + step.costUsd } }
      // A step's text is what its deltas streamed: stop showing that much of the live text.
      const current: LiveTurn = liveFor(view, d.turnId)
      const called = new Set(step.toolCalls.map((c: ToolCallView) => c.id))
      live = {
        ...current,
        // At most what streamed here: a view that joined mid-turn never saw the earlier deltas.
        textShown: Math.min(current.text.length, current.textShown + step.text.length),
        reasoningShown: Math.min(current.reasoning.length, current.reasoningShown + step.reasoning.length),
        toolArgs: current.toolArgs.filter((t) => !called.has(t.callId)),
      }
      retry = null
      break
    }
    case 'ToolCallCompleted':
      changeCall(d.callId, (c) => ({ ...c, result: d.result, isError: d.isError, images: d.images }))
      break
    case 'ToolCallApprovalRequested':
      // The turn waits for a person: nothing streams until the decision.
      if (live?.turnId === d.turnId) live = null
      changeCall(d.callId, (c) => ({
        ...c,
        approval: { turnId: d.turnId, rule: { tool: d.rule?.tool ?? c.name, commandPattern: d.rule?.commandPattern ?? null }, expiresAt: d.expiresAt, decision: null, dismissed: false },
      }))
      break
    case 'ToolCallApproved':
      changeCall(d.callId, (c) => (c.approval ? { ...c, approval: { ...c.approval, decision: { approved: true, by: d.approvedBy, forChat: !!d.forChat } } } : c))
      break
    case 'ToolCallDenied':
      changeCall(d.callId, (c) =>
        c.approval ? { ...c, approval: { ...c.approval, decision: { approved: false, by: d.deniedBy ?? null, reason: d.reason ?? '', expired: !!d.expired } } } : c,
      )
      break
    case 'TurnCompleted':
      if (live?.turnId === d.turnId) live = null
      retry = null
      turnEnd('completed')
      break
    case 'TurnInterrupted':
      if (live?.turnId === d.turnId) live = null
      retry = null
      turnEnd('stopped')
      break
    case 'TurnFailed':
      if (live?.turnId === d.turnId) live = null
      retry = null
      turnEnd('failed', `The turn failed (${d.errorKind}): ${d.message}. Send a message to try again.`)
      break
    case 'RetryScheduled':
      entries.push({ kind: 'marker', revision: e.revision, tone: 'info', text: `Provider error (${d.errorKind}), retry ${d.attempt} in ${Math.round(d.delayMs / 1000)} s: ${d.message}` })
      break
    case 'ContextCompacted':
      entries.push({ kind: 'marker', revision: e.revision, tone: 'info', text: `Context compacted: ${d.tokensBefore} → ${d.tokensAfter} tokens` })
      break
    case 'CompactionFailed':
      entries.push({ kind: 'marker', revision: e.revision, tone: 'error', text: `Compaction failed: ${d.message}` })
      break
    case 'ChatForked':
      live = null // a turn the cut left open does not go on in the fork
      entries.push({ kind: 'marker', revision: e.revision, tone: 'info', text: `Forked from another chat at event ${d.atRevision}` })
      break
    case 'QuestionAsked':
      // The turn waits for the user, not the model: nothing streams until the answer.
      if (live?.turnId === d.turnId) live = null
      entries.push({ kind: 'question', revision: e.revision, questionId: d.questionId, turnId: d.turnId, questions: d.questions ?? [], answer: null, dismissed: false })
      break
    case 'QuestionAnswered':
      update('question', (q) => q.questionId === d.questionId, (q) => ({ ...q, answer: { answers: d.answers ?? [], freeText: !!d.freeText } }))
      break
    case 'PlanProposed':
      entries.push({ kind: 'plan', revision: e.revision, path: d.path, plan: d.plan ?? '', sha256: d.sha256, answered: false })
      break
    case 'SubAgentSpawned': {
      const child: SubAgentEntry = {
        revision: e.revision,
        childChatId: d.childChatId,
        agentType: d.agentType,
        title: d.title || 'Sub-agent',
        prompt: d.prompt ?? '',
        modelId: d.modelId ?? null,
        closed: false,
      }
      subAgents = [...subAgents.filter((c) => c.childChatId !== child.childChatId), child]
      break
    }
    case 'SubAgentClosed':
      subAgents = subAgents.map((c) => (c.childChatId === d.childChatId ? { ...c, closed: true } : c))
      break
  }
  return { ...view, events: [...view.events, e], entries, callIndex, live, retry, turnUsage, subAgents, lastRevision: e.revision }
}

export function foldChatItems(view: ChatView, items: StreamItem[]): ChatView {
  let v = view
  for (const item of items) {
    switch (item.__typename) {
      case 'ChatEventItem':
        v = applyEvent(v, item.event)
        break
      case 'TextDelta': {
        const live = liveFor(v, item.turnId)
        v = { ...v, live: { ...live, text: live.text + item.delta } }
        break
      }
      case 'ReasoningDelta': {
        const live = liveFor(v, item.turnId)
        v = { ...v, live: { ...live, reasoning: live.reasoning + item.delta } }
        break
      }
      case 'ToolCallArgumentsDelta': {
        const live = liveFor(v, item.turnId)
        const known = live.toolArgs.find((t) => t.callId === item.callId)
        const toolArgs = known
          ? live.toolArgs.map((t) => (t.callId === item.callId ? { ...t, args: t.args + item.delta } : t))
          : [...live.toolArgs, { callId: item.callId, name: item.name ?? 'tool', args: item.delta }]
        v = { ...v, live: { ...live, toolArgs } }
        break
      }
      case 'StatusChanged':
        v = { ...v, liveStatus: item.status }
        break
      case 'RetryCountdown':
        v = { ...v, retry: { attempt: item.attempt, retryAt: item.retryAt, message: item.message } }
        break
    }
  }
  return v
}

/**
 * Older stored events paged in before the view's first: the stored part is folded again from
 * them on, and what is live (deltas, status, retry) is kept as it is.
 */
export function prependEvents(view: ChatView, earlier: StoredChatEvent[]): ChatView {
  const first = view.events[0]?.revision ?? Infinity
  const events = [...earlier.filter((e) => e.revision < first), ...view.events]
  const refolded = foldChatItems(emptyChatView(), events.map((event) => ({ __typename: 'ChatEventItem' as const, event })))
  return { ...refolded, live: view.live, liveStatus: view.liveStatus, retry: view.retry }
}

/** The text of the live turn not yet shown by a stored step. */
export const liveText = (live: LiveTurn | null) => (live ? live.text.slice(live.textShown) : '')
export const liveReasoning = (live: LiveTurn | null) => (live ? live.reasoning.slice(live.reasoningShown) : '')
