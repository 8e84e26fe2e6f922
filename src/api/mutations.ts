/** Mutations: each one is a command through a decider and `handleCommand`; nothing appends directly. */
import { randomUUID } from 'node:crypto'
import type { ChatCommand, AttachmentRef, BusyBehavior } from '../../commands/chat/commands.ts'
import { chatDecider } from '../../commands/chat/decide.ts'
import { CommandError, invalidInput } from '../../commands/errors.ts'
import { foldStream, handleCommand, writerFor } from '../../commands/handler.ts'
import { chatStream, type ChatEvent, type MessagePart } from '../events/chat.ts'
import type { AppendResult } from '../eventstore/types.ts'
import { loadAttachments } from '../attachments/blobs.ts'
import {
  canReadAttachment,
  chatNotFound,
  requireChatAccess,
  requireAgentsAccess,
  requirePrincipal,
  type Principal,
} from '../identity/permissions.ts'
import { chatsReferencing } from '../attachments/blobs.ts'
import { eventMetadata, type ApiContext } from './context.ts'
import { chatOwnership, chatViewOf, forkSourceRow, isUuid, loadChat, subAgentChats, type ChatView } from './read-models.ts'
import { totalsThrough } from './chat-lineage.ts'
import { evolveChatRow } from '../../projections/chat-row.ts'
import { upcast, type Stored } from '../events/index.ts'

/** Waits until the `chats` projection (all a chat mutation's answer reads) has passed the append. */
async function readYourWrite(ctx: ApiContext, result: AppendResult | null): Promise<void> {
  if (result) await ctx.api.engine.waitForPosition('chats', result.checkpoint, ctx.api.readYourWriteTimeoutMs)
}

async function chatAfterWrite(ctx: ApiContext, chatId: string): Promise<ChatView> {
  const chat = await loadChat(ctx.api.db, chatId)
  if (!chat) throw chatNotFound()
  return chat
}

/**
 * Runs one command on an existing chat the caller may change. Concurrent commands to a chat
 * are decided again on conflict, never refused: CONFLICT only when the client named the
 * revision it decided from (`expectedRevision`) and the chat has moved past it.
 */
async function changeChat(
  ctx: ApiContext,
  chatId: string,
  command: ChatCommand,
  expectedRevision?: number | null,
): Promise<{ result: AppendResult | null; events: ChatEvent[] }> {
  const principal = requirePrincipal(ctx.principal)
  requireChatAccess(principal, await chatOwnership(ctx.api.db, ctx.api.store, chatId), 'change')
  if (expectedRevision != null && (!Number.isInteger(expectedRevision) || expectedRevision < 0))
    throw invalidInput(`expectedRevision must be a revision of the chat (0 or more); got ${expectedRevision}`)
  const commandId = randomUUID()
  const outcome = await handleCommand(ctx.api.store, chatStream(chatId), chatDecider, command, {
    commandId,
    metadata: eventMetadata(ctx, principal, commandId),
    ...(expectedRevision != null ? { expectedRevision: BigInt(expectedRevision) } : {}),
  })
  await readYourWrite(ctx, outcome.result)
  return { result: outcome.result, events: outcome.events as unknown as ChatEvent[] }
}

async function changeAndRead(ctx: ApiContext, chatId: string, command: ChatCommand): Promise<ChatView> {
  await changeChat(ctx, chatId, command)
  return chatAfterWrite(ctx, chatId)
}

/** Resolves uploaded attachment ids into message parts; an id the caller may not read is INVALID_INPUT. */
async function attachmentsFor(ctx: ApiContext, principal: Principal, ids: readonly string[] | null | undefined): Promise<AttachmentRef[]> {
  if (!ids?.length) return []
  const unique = [...new Set(ids)]
  const rows = await loadAttachments(ctx.api.db, unique)
  const refs: AttachmentRef[] = []
  for (const id of unique) {
    const row = rows.find((r) => r.id === id)
    const readable = row && canReadAttachment(principal, row, await chatsReferencing(ctx.api.db, row.id))
    if (!row || !readable) throw invalidInput(`attachment ${id} does not exist; upload it to /api/v1/attachments first`)
    refs.push({ attachmentId: row.id, sha256: row.sha256, mimeType: row.mimeType, name: row.name, size: row.size })
  }
  return refs
}

function messageParts(text: string, attachments: AttachmentRef[]): MessagePart[] {
  const parts: MessagePart[] = []
  if (text.length) parts.push({ type: 'text', text })
  for (const a of attachments) parts.push({ type: 'attachment', ...a })
  return parts
}

const requireId = (id: string, what = 'chatId') => {
  if (!isUuid(id)) throw chatNotFoundOr(what)
  return id
}
const chatNotFoundOr = (what: string) => (what === 'chatId' ? chatNotFound() : invalidInput(`${what} is not a valid id`))

type Args<T> = (root: unknown, args: T, ctx: ApiContext) => Promise<unknown>

interface CreateChatInput {
  title: string
  modelId?: string | null
  workspaceId?: string | null
  planMode?: boolean | null
  firstMessage?: string | null
  attachmentIds?: string[] | null
}

const createChat: Args<{ input: CreateChatInput }> = async (_root, { input }, ctx) => {
  const principal = requirePrincipal(ctx.principal)
  requireAgentsAccess(principal)
  if (input.workspaceId != null && !isUuid(input.workspaceId)) throw invalidInput('workspaceId is not a valid id')
  await requireUsableModel(ctx, input.modelId)
  const attachments = await attachmentsFor(ctx, principal, input.attachmentIds)
  if (attachments.length && !input.firstMessage) throw invalidInput('attachments need a firstMessage to go with')
  const chatId = randomUUID()
  const commandId = randomUUID()
  const outcome = await handleCommand(
    ctx.api.store,
    chatStream(chatId),
    chatDecider,
    {
      type: 'CreateChat',
      chatId,
      ownerId: principal.userId,
      organizationId: principal.organizationId,
      title: input.title,
      modelId: input.modelId ?? null,
      workspaceId: input.workspaceId ?? null,
      planMode: input.planMode ?? false,
      ...(input.firstMessage != null ? { firstMessage: { messageId: randomUUID(), parts: messageParts(input.firstMessage, attachments) } } : {}),
      attachments,
    },
    { commandId, metadata: eventMetadata(ctx, principal, commandId) },
  )
  await readYourWrite(ctx, outcome.result)
  return chatAfterWrite(ctx, chatId)
}

interface SendMessageInput {
  chatId: string
  text: string
  attachmentIds?: string[] | null
  busyBehavior?: BusyBehavior | null
  expectedRevision?: number | null
}

const sendMessage: Args<{ input: SendMessageInput }> = async (_root, { input }, ctx) => {
  const principal = requirePrincipal(ctx.principal)
  const chatId = requireId(input.chatId)
  requireChatAccess(principal, await chatOwnership(ctx.api.db, ctx.api.store, chatId), 'change')
  requireAgentsAccess(principal)
  const attachments = await attachmentsFor(ctx, principal, input.attachmentIds)
  const messageId = randomUUID()
  const { events } = await changeChat(
    ctx,
    chatId,
    {
      type: 'PostMessage',
      messageId,
      authorId: principal.userId,
      parts: messageParts(input.text, attachments),
      busyBehavior: input.busyBehavior ?? 'QUEUE',
      attachments,
    },
    input.expectedRevision,
  )
  const answered = events.find((e) => e.type === 'QuestionAnswered')
  return {
    chat: await chatAfterWrite(ctx, chatId),
    messageId,
    queued: events.some((e) => e.type === 'MessageQueued'),
    answeredQuestionId: answered?.type === 'QuestionAnswered' ? answered.data.questionId : null,
  }
}

/**
 * A fork is decided from the source's head alone — its last revision for the range check, its
 * owner and current settings from the read model — so it costs the same at ten events or a
 * hundred thousand. The two are read at once; the totals the fork inherits are read while it is
 * appended. The answer is built from the stored `ChatForked` (when the source's read model had
 * the totals through the cut and the store said when it stored the event; otherwise it waits
 * and reads the fork's row).
 */
const forkChat: Args<{ chatId: string; atRevision: number; title?: string | null }> = async (_root, args, ctx) => {
  const principal = requirePrincipal(ctx.principal)
  const sourceId = requireId(args.chatId)
  const { db, store } = ctx.api
  const source = chatStream(sourceId)
  const [sourceRow, info] = await Promise.all([forkSourceRow(db, sourceId), store.streamInfo(source)])
  requireChatAccess(principal, sourceRow ?? (await chatOwnership(db, store, sourceId)), 'read')
  requireAgentsAccess(principal)
  if (!info) throw chatNotFound()
  // The read model may not have the source yet (created a moment ago): fold it then.
  const row = sourceRow ?? (await foldStream(store, source, chatDecider)).state
  // Final once the read model has the source through the cut (a failed fork drops them).
  const inheriting = totalsThrough(db, sourceId, args.atRevision).catch(() => null)
  const chatId = randomUUID()
  const commandId = randomUUID()
  const outcome = await handleCommand(
    store,
    chatStream(chatId),
    chatDecider,
    {
      type: 'ForkChat',
      chatId,
      ownerId: principal.userId,
      organizationId: principal.organizationId,
      atRevision: args.atRevision,
      ...(args.title ? { title: args.title } : {}),
      source: {
        chatId: sourceId,
        lastRevision: Number(info.revision),
        title: row.title,
        modelId: row.modelId,
        workspaceId: row.workspaceId,
        planMode: row.planMode,
      },
    },
    { commandId, metadata: eventMetadata(ctx, principal, commandId), forkOf: { stream: source, revision: BigInt(args.atRevision) } },
  )
  const inherited = await inheriting
  const [forked] = outcome.events
  if (outcome.result?.createdAt && forked?.type === 'ChatForked' && inherited && inherited.projected >= args.atRevision) {
    // The answer is the fork's row as the chats projection will write it (the same function, on
    // the event as stored: the store said when), so the mutation does not wait for it; this
    // user's next requests to this process do (pendingWrites), and a read by id elsewhere waits
    // on a miss (queries.ts).
    ctx.api.pendingWrites.add(principal.userId, ctx.api.engine.waitForPosition('chats', outcome.result!.checkpoint, ctx.api.readYourWriteTimeoutMs))
    return chatViewOf(evolveChatRow(null, upcast(forked as Stored<ChatEvent>)).row, 0, inherited.totals)
  }
  await readYourWrite(ctx, outcome.result)
  return chatAfterWrite(ctx, chatId)
}

/** A chat's sub-agents: those its stream recorded (at once) and those the read model lists. */
async function subAgentsOf(ctx: ApiContext, chatId: string): Promise<string[]> {
  const recorded = Object.keys((await writerFor(ctx.api.store).current(chatStream(chatId), chatDecider)).state.subAgents)
  return [...new Set([...recorded, ...(await subAgentChats(ctx.api.db, chatId))])]
}

/** Archiving (or unarchiving) or interrupting a root chat does the same to its sub-agent chats. */
function cascade(type: 'ArchiveChat' | 'UnarchiveChat' | 'InterruptChat'): Args<{ chatId: string }> {
  return async (_root, args, ctx) => {
    const chatId = requireId(args.chatId)
    const principal = requirePrincipal(ctx.principal)
    const command = (cascadedFrom?: string): ChatCommand =>
      type === 'InterruptChat' ? { type, requestedBy: principal.userId } : { type, ...(cascadedFrom ? { cascadedFrom } : {}) }
    await changeChat(ctx, chatId, command())
    for (const childId of await subAgentsOf(ctx, chatId)) {
      try {
        await changeChat(ctx, childId, command(chatId))
      } catch (err) {
        // A closed (archived) sub-agent has nothing to interrupt.
        if (!(type === 'InterruptChat' && err instanceof CommandError && err.code === 'CHAT_ARCHIVED')) throw err
      }
    }
    return chatAfterWrite(ctx, chatId)
  }
}

/** Members choose among enabled models: an unknown or disabled one is refused before anything is appended. */
async function requireUsableModel(ctx: ApiContext, modelId: string | null | undefined): Promise<void> {
  if (modelId == null || !ctx.api.config) return
  const models = (await ctx.api.config.current()).models
  if (models[modelId]?.enabled) return
  const usable = Object.values(models).filter((m) => m.enabled).map((m) => m.modelId)
  throw invalidInput(`model ${modelId} is not available; choose one of: ${usable.join(', ') || '(none configured yet)'}`)
}

/** A change of one chat; `usesAgents` for one that has the model work on (needs agents-access). */
const onChat =
  <T extends { chatId: string }>(command: (args: T, principal: Principal) => ChatCommand, opts: { usesAgents?: boolean } = {}): Args<T> =>
  async (_root, args, ctx) => {
    const principal = requirePrincipal(ctx.principal)
    const chatId = requireId(args.chatId)
    if (opts.usesAgents) {
      requireChatAccess(principal, await chatOwnership(ctx.api.db, ctx.api.store, chatId), 'change')
      requireAgentsAccess(principal)
    }
    return changeAndRead(ctx, chatId, command(args, principal))
  }

export const mutationResolvers = {
  createChat,
  sendMessage,
  forkChat,
  interruptChat: cascade('InterruptChat'),
  removeQueuedMessage: onChat<{ chatId: string; queueId: string }>((a) => ({ type: 'RemoveQueuedMessage', queueId: a.queueId })),
  promoteQueuedMessage: onChat<{ chatId: string; queueId: string; interrupt?: boolean | null }>((a, p) => ({
    type: 'PromoteQueuedMessage',
    queueId: a.queueId,
    ...(a.interrupt ? { interrupt: { requestedBy: p.userId } } : {}),
  })),
  renameChat: onChat<{ chatId: string; title: string }>((a) => ({ type: 'RenameChat', title: a.title })),
  archiveChat: cascade('ArchiveChat'),
  unarchiveChat: cascade('UnarchiveChat'),
  setChatModel: async (_root: unknown, args: { chatId: string; modelId: string }, ctx: ApiContext) => {
    const principal = requirePrincipal(ctx.principal)
    const chatId = requireId(args.chatId)
    requireChatAccess(principal, await chatOwnership(ctx.api.db, ctx.api.store, chatId), 'change')
    await requireUsableModel(ctx, args.modelId)
    return changeAndRead(ctx, chatId, { type: 'ChangeModel', modelId: args.modelId })
  },
  setPlanMode: onChat<{ chatId: string; planMode: boolean }>((a) => ({ type: 'SetPlanMode', planMode: a.planMode })),
  answerQuestion: onChat<{ chatId: string; questionId: string; answers?: string[] | null; answer?: string | null }>((a, p) => {
    if ((a.answers == null) === (a.answer == null)) throw invalidInput('give either answers (one per question) or answer (free text for all of them)')
    if (a.answers != null) return { type: 'AnswerQuestion', questionId: a.questionId, answers: a.answers, answeredBy: p.userId }
    return { type: 'AnswerQuestion', questionId: a.questionId, answers: [a.answer!], freeText: true, answeredBy: p.userId }
  }, { usesAgents: true }),
  compactChat: onChat((_a, p) => ({ type: 'RequestCompaction', requestedBy: p.userId }), { usesAgents: true }),
  approveToolCall: onChat<{ chatId: string; callId: string; forChat?: boolean | null }>((a, p) => ({
    type: 'ApproveToolCall',
    callId: a.callId,
    approvedBy: p.userId,
    forChat: a.forChat === true,
  })),
  denyToolCall: onChat<{ chatId: string; callId: string; reason?: string | null }>((a, p) => ({ type: 'DenyToolCall', callId: a.callId, deniedBy: p.userId, reason: a.reason ?? '' })),
}
