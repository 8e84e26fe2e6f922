// The real server (startServer on port 0, PGlite in a temp data dir) with the wire-faithful fake LLM.
import { randomUUID } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { chatDecider } from '../../commands/chat/decide.ts'
import { handleCommand } from '../../commands/handler.ts'
import { projections } from '../../projections/index.ts'
import { chatStream, DEFAULT_ORGANIZATION_ID, type ChatEvent, type Role } from '../../src/events/index.ts'
import type { StoredEvent } from '../../src/eventstore/types.ts'
import { createUser } from '../../src/identity/index.ts'
import type { CairnEnv } from '../../src/config/env.ts'
import { startServer, type RunningServer } from '../../src/server.ts'
import { configureFakeModel } from '../agent/harness.ts'
import type { FakeProvider, ScriptedResponse } from '../fakes/script.ts'

export type ChatLog = (StoredEvent & ChatEvent)[]

export interface WorkspaceServer {
  server: RunningServer
  dataDir: string
  logs: string[]
  /**
   * Scripts the model for the chat whose first user message is `prompt`: step n answers the
   * n-th request of that chat. Titles are answered apart, so chats never take each other's steps.
   */
  script(prompt: string, steps: (ScriptedResponse | ((messages: WireMessage[]) => ScriptedResponse))[]): void
  user(email: string, role: Role): Promise<{ userId: string; token: string }>
  createChat(ownerId: string, text: string, extra?: { workspaceId?: string | null; planMode?: boolean }): Promise<string>
  /** A GraphQL request to the server as the holder of `token`. */
  gql(token: string, query: string, variables?: Record<string, unknown>): Promise<{ data?: any; errors?: { message: string; extensions?: { code?: string } }[] }>
  waitFor(chatId: string, predicate: (events: ChatLog) => boolean, timeoutMs?: number): Promise<ChatLog>
  close(): Promise<void>
}

export async function startWorkspaceServer(
  fake: FakeProvider,
  opts: { dataDir?: string; keepDataDir?: boolean; databaseUrl?: string; env?: Partial<CairnEnv> } = {},
): Promise<WorkspaceServer> {
  const dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), 'cairn-ws-'))
  const logs: string[] = []
  const server = await startServer({
    env: { databaseUrl: opts.databaseUrl, dataDir, port: 0, host: '127.0.0.1', runner: true, ...opts.env } as never,
    projections,
    log: (l) => logs.push(l),
  })
  await configureFakeModel(server.config, fake, 'openai-chat')
  const scripts = new Map<string, Parameters<WorkspaceServer['script']>[1]>()
  fake.setDefault((body) => {
    const messages = (body as { messages: WireMessage[] }).messages
    const system = messages.find((m) => m.role === 'system')
    if (system && wireText(system).startsWith('Write a title')) return { text: 'A title' }
    const prompt = wireText(messages.find((m) => m.role === 'user') ?? { role: 'user' })
    const steps = scripts.get(prompt)
    if (!steps) return { text: `no script for ${prompt}` }
    const step = steps[messages.filter((m) => m.role === 'assistant').length] ?? { text: 'done' }
    return typeof step === 'function' ? step(messages) : step
  })
  const h: WorkspaceServer = {
    server,
    dataDir,
    logs,
    script(prompt, steps) {
      scripts.set(prompt, steps)
    },
    async user(email, role) {
      const issued = await createUser(server.store, { email, role })
      await server.engine.waitForAll(issued.checkpoint)
      return { userId: issued.userId, token: issued.token }
    },
    async createChat(ownerId, text, extra = {}) {
      const chatId = randomUUID()
      await handleCommand(
        server.store,
        chatStream(chatId),
        chatDecider,
        {
          type: 'CreateChat',
          chatId,
          ownerId,
          organizationId: DEFAULT_ORGANIZATION_ID,
          title: 'New chat',
          modelId: null,
          workspaceId: extra.workspaceId ?? null,
          planMode: extra.planMode ?? false,
          firstMessage: { messageId: randomUUID(), parts: [{ type: 'text', text }] },
        },
        { commandId: randomUUID(), metadata: { actor: { kind: 'user', id: ownerId }, organizationId: DEFAULT_ORGANIZATION_ID } },
      )
      return chatId
    },
    async gql(token, query, variables = {}) {
      const res = await fetch(`${server.url}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body: JSON.stringify({ query, variables }),
      })
      return (await res.json()) as never
    },
    async waitFor(chatId, predicate, timeoutMs = 60_000) {
      const deadline = Date.now() + timeoutMs
      for (;;) {
        const events = (await server.store.readStream(chatStream(chatId)).catch(() => [])) as ChatLog
        if (predicate(events)) return events
        if (Date.now() > deadline) throw new Error(`timed out; events so far: ${events.map((e) => e.type).join(', ')}`)
        await new Promise((r) => setTimeout(r, 100))
      }
    },
    async close() {
      await server.close()
      if (!opts.keepDataDir) rmSync(dataDir, { recursive: true, force: true })
    },
  }
  return h
}

export const toolResults = (events: ChatLog) =>
  Object.fromEntries(events.flatMap((e) => (e.type === 'ToolCallCompleted' ? [[e.data.callId, e.data]] : []))) as Record<
    string,
    Extract<ChatEvent, { type: 'ToolCallCompleted' }>['data']
  >

/** A started, connected workspace of `userId` from the default template. */
export async function readyWorkspace(h: WorkspaceServer, userId: string): Promise<string> {
  const ws = h.server.workspaces
  const actor = (await ws.actorFor(userId))!
  const [template] = await ws.listTemplates(actor)
  const created = await ws.createWorkspace(actor, { templateId: template!.id })
  const outcome = await created.build
  if (!outcome.ok) throw new Error(`build failed: ${outcome.error}\n${outcome.log}`)
  await ws.tunnels.waitForConnection(created.workspace.id, 60_000)
  return created.workspace.id
}

export type WireMessage = { role: string; content?: unknown; tool_call_id?: string }
export const wireText = (m: WireMessage) =>
  typeof m.content === 'string' ? m.content : Array.isArray(m.content) ? m.content.map((p: { text?: string }) => p.text ?? '').join('') : ''
