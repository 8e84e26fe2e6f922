/**
 * The `myChats` feed. Each process tails the log itself (so a change appended through any
 * process reaches subscribers on every process), waits until the chats read model has
 * applied the event, and hands the fresh row to the owner's subscribers.
 */
import { chatIdOfStream, type ChatEventType } from '../events/chat.ts'
import type { Sql } from '../db/database.ts'
import type { EventStore, Subscription, StoredEvent, Checkpoint } from '../eventstore/types.ts'
import type { Principal } from '../identity/permissions.ts'
import type { ProjectionEngine } from '../projections/types.ts'
import { loadChat, type ChatView } from './read-models.ts'

export type ChatChangeKind = 'CREATED' | 'UPDATED' | 'STATUS' | 'TITLE' | 'ARCHIVED' | 'UNARCHIVED'
export interface ChatChange {
  kind: ChatChangeKind
  chat: ChatView
}

const KINDS: Partial<Record<ChatEventType, ChatChangeKind>> = {
  ChatCreated: 'CREATED',
  ChatForked: 'CREATED',
  ChatRenamed: 'TITLE',
  ChatArchived: 'ARCHIVED',
  ChatUnarchived: 'UNARCHIVED',
  UserMessagePosted: 'STATUS',
  InterruptRequested: 'STATUS',
  TurnStarted: 'STATUS',
  TurnCompleted: 'STATUS',
  TurnInterrupted: 'STATUS',
  TurnFailed: 'STATUS',
  QuestionAsked: 'STATUS',
  QuestionAnswered: 'STATUS',
  ChatModelChanged: 'UPDATED',
  PlanModeChanged: 'UPDATED',
  MessageQueued: 'UPDATED',
  QueuedMessageRemoved: 'UPDATED',
}

export interface ChatChangeFeed {
  /** Calls `listener` with each change to a chat `principal` owns. Returns how to stop. */
  listen(principal: Principal, listener: (change: ChatChange) => void): Promise<() => void>
  close(): Promise<void>
}

export function createChatChangeFeed(deps: { db: Sql; store: EventStore; engine: ProjectionEngine; chatsProjection: string | null }): ChatChangeFeed {
  const listeners = new Set<{ principal: Principal; listener: (change: ChatChange) => void }>()
  let tail: Subscription<StoredEvent & { checkpoint: Checkpoint }> | null = null
  let started: Promise<void> | null = null

  const waitForRow = (checkpoint: Checkpoint) =>
    deps.chatsProjection ? deps.engine.waitForPosition(deps.chatsProjection, checkpoint) : deps.engine.waitForAll(checkpoint)

  async function run(sub: Subscription<StoredEvent & { checkpoint: Checkpoint }>) {
    try {
      for await (const event of sub) {
        const kind = KINDS[event.type as ChatEventType]
        if (!kind || !listeners.size) continue
        await waitForRow(event.checkpoint).catch(() => {})
        const chat = await loadChat(deps.db, chatIdOfStream(event.stream))
        if (!chat) continue
        // One change object for all its listeners: its result is executed once per selection (shared-execution.ts).
        const change = { kind, chat }
        for (const l of listeners) {
          if (l.principal.userId === chat.ownerId && l.principal.organizationId === chat.organizationId) l.listener(change)
        }
      }
    } catch {
      // the tail ended (closing); a later listen starts a new one
      tail = null
      started = null
    }
  }

  function start(): Promise<void> {
    started ??= (async () => {
      const after = await deps.store.headCheckpoint()
      tail = deps.store.subscribeToAll({ after, filter: { streamPrefix: 'chat-', eventTypes: Object.keys(KINDS) } })
      void run(tail)
    })().catch((err) => {
      started = null
      throw err
    })
    return started
  }

  return {
    async listen(principal, listener) {
      const entry = { principal, listener }
      listeners.add(entry)
      await start()
      return () => void listeners.delete(entry)
    },
    async close() {
      listeners.clear()
      await tail?.close().catch(() => {})
      tail = null
      started = null
    },
  }
}
