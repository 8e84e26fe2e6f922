// The GraphQL calls `cairn chat` makes: queries and mutations over HTTP, chatStream over graphql-ws.
import { createClient, type Client } from 'graphql-ws'
import WebSocket from 'ws'

export type ChatStatus = 'WAITING' | 'PENDING' | 'RUNNING' | 'INTERRUPTING' | 'REQUIRES_ACTION' | 'ERROR'

export interface ChatSummary {
  id: string
  title: string
  status: ChatStatus
  revision: number
  updatedAt: string
  queueLength: number
}

export interface StreamedEvent {
  revision: number
  type: string
  data: Record<string, any>
}

export type ChatStreamItem =
  | { __typename: 'ChatEventItem'; event: StreamedEvent }
  | { __typename: 'TextDelta'; turnId: string; stepId: string | null; delta: string }
  | { __typename: 'ReasoningDelta'; turnId: string; stepId: string | null; delta: string }
  | { __typename: 'ToolCallArgumentsDelta'; turnId: string; callId: string; name: string | null; delta: string }
  | { __typename: 'StatusChanged'; status: ChatStatus }
  | { __typename: 'RetryCountdown'; turnId: string; attempt: number; retryAt: string; delayMs: number; errorKind: string; message: string }

/** A GraphQL error the server answered with; `code` is its `extensions.code`. */
export class ApiError extends Error {
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message)
    this.name = 'ApiError'
  }
}

const CHAT_FIELDS = 'id title status revision updatedAt queueLength'

const STREAM_QUERY = `subscription($id: ID!, $from: Int!) {
  chatStream(chatId: $id, fromRevision: $from) {
    __typename
    ... on ChatEventItem { event { revision type data } }
    ... on TextDelta { turnId stepId delta }
    ... on ReasoningDelta { turnId stepId delta }
    ... on ToolCallArgumentsDelta { turnId callId name delta }
    ... on StatusChanged { status }
    ... on RetryCountdown { turnId attempt retryAt delayMs errorKind message }
  }
}`

export interface ChatApi {
  me(): Promise<{ email: string; role: string }>
  recentChats(first: number): Promise<ChatSummary[]>
  chat(id: string): Promise<ChatSummary>
  createChat(title: string): Promise<ChatSummary>
  sendMessage(chatId: string, text: string): Promise<{ messageId: string; queued: boolean; answeredQuestionId: string | null }>
  interruptChat(chatId: string): Promise<ChatSummary>
  /** Streams the chat from `fromRevision` (inclusive); returns how to stop. */
  stream(chatId: string, fromRevision: number, sink: { item(item: ChatStreamItem): void; error(err: Error): void; closed(): void }): () => void
  close(): Promise<void>
}

export function connectChatApi(baseUrl: string, token: string): ChatApi {
  const httpUrl = baseUrl.replace(/\/+$/, '') + '/graphql'
  let ws: Client | null = null

  async function gql<T>(query: string, variables: Record<string, unknown> = {}): Promise<T> {
    let res: Response
    try {
      res = await fetch(httpUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body: JSON.stringify({ query, variables }),
      })
    } catch (err) {
      throw new ApiError(`cannot reach ${baseUrl}: ${(err as Error).cause ?? (err as Error).message}`, 'UNREACHABLE')
    }
    const text = await res.text()
    let body: { data?: T; errors?: { message: string; extensions?: { code?: string } }[] }
    try {
      body = JSON.parse(text)
    } catch {
      throw new ApiError(`${httpUrl} answered ${res.status} with something that is not GraphQL: ${text.slice(0, 200)}`, 'BAD_RESPONSE')
    }
    const first = body.errors?.[0]
    if (first) throw new ApiError(first.message, first.extensions?.code ?? 'ERROR')
    if (!body.data) throw new ApiError(`${httpUrl} answered ${res.status} without data`, 'BAD_RESPONSE')
    return body.data
  }

  function socket(): Client {
    ws ??= createClient({
      url: httpUrl.replace(/^http/, 'ws'),
      webSocketImpl: WebSocket,
      connectionParams: { authorization: `Bearer ${token}` },
      retryAttempts: 0,
      lazy: true,
    })
    return ws
  }

  return {
    async me() {
      return (await gql<{ me: { email: string; role: string } }>('{ me { email role } }')).me
    },
    async recentChats(first) {
      const data = await gql<{ chats: { nodes: ChatSummary[] } }>(
        `query($first: Int!) { chats(first: $first, filter: { archived: false }) { nodes { ${CHAT_FIELDS} } } }`,
        { first },
      )
      return data.chats.nodes
    },
    async chat(id) {
      return (await gql<{ chat: ChatSummary }>(`query($id: ID!) { chat(id: $id) { ${CHAT_FIELDS} } }`, { id })).chat
    },
    async createChat(title) {
      const data = await gql<{ createChat: ChatSummary }>(
        `mutation($title: String!) { createChat(input: { title: $title }) { ${CHAT_FIELDS} } }`,
        { title },
      )
      return data.createChat
    },
    async sendMessage(chatId, text) {
      const data = await gql<{ sendMessage: { messageId: string; queued: boolean; answeredQuestionId: string | null } }>(
        `mutation($id: ID!, $text: String!) { sendMessage(input: { chatId: $id, text: $text, busyBehavior: QUEUE }) { messageId queued answeredQuestionId } }`,
        { id: chatId, text },
      )
      return data.sendMessage
    },
    async interruptChat(chatId) {
      return (await gql<{ interruptChat: ChatSummary }>(`mutation($id: ID!) { interruptChat(chatId: $id) { ${CHAT_FIELDS} } }`, { id: chatId }))
        .interruptChat
    },
    stream(chatId, fromRevision, sink) {
      return socket().subscribe<{ chatStream: ChatStreamItem }>(
        { query: STREAM_QUERY, variables: { id: chatId, from: fromRevision } },
        {
          next: (value) => {
            const first = value.errors?.[0]
            if (first) sink.error(new ApiError(first.message, String(first.extensions?.['code'] ?? 'ERROR')))
            else if (value.data) sink.item(value.data.chatStream)
          },
          error: (err) => sink.error(describeSocketError(err, baseUrl)),
          complete: () => sink.closed(),
        },
      )
    },
    async close() {
      await ws?.dispose()
      ws = null
    },
  }
}

/** graphql-ws reports failures as Error, CloseEvent or GraphQLError[]; make each a message. */
function describeSocketError(err: unknown, baseUrl: string): Error {
  if (err instanceof Error) return err
  if (Array.isArray(err)) return new ApiError(err.map((e: { message?: string }) => e.message).join('; '), 'ERROR')
  const close = err as { code?: number; reason?: string }
  if (typeof close?.code === 'number') {
    const why = close.code === 4403 || close.code === 4401 ? 'the token was refused' : close.reason || 'no reason given'
    return new ApiError(`the subscription socket to ${baseUrl} closed (${close.code}): ${why}`, 'SOCKET_CLOSED')
  }
  return new Error(String(err))
}

/**
 * Subscribes to the chat and resolves once the subscription is live: it starts at the chat's
 * last stored event, so that event's arrival proves the server is listening (and its
 * ephemeral deltas reach us) before we post anything.
 */
export function openStream(api: ChatApi, chat: ChatSummary, onItem: (item: ChatStreamItem) => void, onEnd: (err: Error) => void) {
  let live = false
  let stopped = false
  let stopStream = () => {}
  const ready = new Promise<void>((resolveReady, rejectReady) => {
    const stop = api.stream(chat.id, chat.revision, {
      item(item) {
        if (!live) {
          if (item.__typename !== 'ChatEventItem') return
          live = true
          resolveReady()
          if (item.event.revision <= chat.revision) return // the event we started at is history
        }
        onItem(item)
      },
      error(err) {
        if (stopped) return
        if (!live) rejectReady(err)
        else onEnd(err)
      },
      closed() {
        if (stopped) return
        const err = new Error('the server ended the chat stream')
        if (!live) rejectReady(err)
        else onEnd(err)
      },
    })
    stopStream = stop
  })
  return {
    ready,
    stop() {
      stopped = true
      stopStream()
    },
  }
}
