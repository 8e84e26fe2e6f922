// A small chat history written straight to the store: a turn with a tool call and its result, a
// compaction, a second step, and a fork of it. The audit tools read it as they would a real one.
import { randomUUID } from 'node:crypto'
import type { ChatEvent } from '../../src/events/chat.ts'
import type { EventStore } from '../../src/eventstore/types.ts'

export const ORG = '00000000-0000-4000-8000-000000000001'
export const OWNER = '00000000-0000-4000-8000-0000000000aa'

const usage = { inputTokens: 120, outputTokens: 30, cacheReadTokens: 0, cacheWriteTokens: 0, reasoningTokens: 0 }

export function chatEvents(chatId: string): ChatEvent[] {
  const turnId = randomUUID()
  return [
    {
      type: 'ChatCreated',
      data: { chatId, ownerId: OWNER, organizationId: ORG, title: 'Fix the build', modelId: 'claude', workspaceId: null, parentChatId: null, rootChatId: null, agentType: null, planMode: false },
    },
    { type: 'UserMessagePosted', data: { messageId: randomUUID(), parts: [{ type: 'text', text: 'Why does the build fail?' }], authorId: OWNER } },
    { type: 'TurnStarted', data: { turnId, runnerId: 'runner-1', modelId: 'claude' } },
    {
      type: 'AssistantStepCompleted',
      data: {
        turnId, stepId: randomUUID(), modelId: 'claude', text: 'Let me look.', reasoning: '', finishReason: 'tool_calls', interrupted: false, costUsd: 0.001, usage,
        parts: [{ type: 'text', text: 'Let me look.' }, { type: 'tool_call', id: 'call-1', name: 'execute', arguments: { command: 'npm run build' } }],
        toolCalls: [{ id: 'call-1', name: 'execute', arguments: { command: 'npm run build' } }],
      },
    },
    { type: 'ToolCallStarted', data: { turnId, callId: 'call-1', name: 'execute', arguments: { command: 'npm run build' } } },
    { type: 'ToolCallCompleted', data: { turnId, callId: 'call-1', name: 'execute', result: 'error TS2304: Cannot find name `foo`', isError: false, durationMs: 812 } },
    { type: 'ContextCompacted', data: { summary: 'The build fails on an undefined name foo.', throughRevision: 5, tokensBefore: 9000, tokensAfter: 400, manual: false } },
    {
      type: 'AssistantStepCompleted',
      data: {
        turnId, stepId: randomUUID(), modelId: 'claude', text: 'The name foo is undefined in src/index.ts.', reasoning: '', finishReason: 'stop', interrupted: false, costUsd: 0.001, usage,
        parts: [{ type: 'text', text: 'The name foo is undefined in src/index.ts.' }],
        toolCalls: [],
      },
    },
    { type: 'TurnCompleted', data: { turnId } },
  ]
}

/** Appends the chat, then a fork of it at revision 5 with one message of its own. */
export async function writeChatWithFork(store: EventStore): Promise<{ chatId: string; forkId: string }> {
  const chatId = randomUUID()
  const forkId = randomUUID()
  const metadata = { actor: { kind: 'user' as const, id: OWNER }, organizationId: ORG }
  await store.appendToStream(`chat-${chatId}`, chatEvents(chatId).map((e) => ({ id: randomUUID(), ...e, metadata })), { expectedRevision: 'no_stream' })
  await store.appendToStream(
    `chat-${forkId}`,
    [
      { id: randomUUID(), type: 'ChatForked', data: { chatId: forkId, sourceChatId: chatId, atRevision: 5, ownerId: OWNER, organizationId: ORG, title: 'Fix the build (fork)', closedToolCallIds: [] }, metadata },
      { id: randomUUID(), type: 'UserMessagePosted', data: { messageId: randomUUID(), parts: [{ type: 'text', text: 'Try another way.' }], authorId: OWNER }, metadata },
    ],
    { forkOf: { stream: `chat-${chatId}`, revision: 5n } },
  )
  return { chatId, forkId }
}
