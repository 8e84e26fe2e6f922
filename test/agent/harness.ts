import { randomUUID } from 'node:crypto'
import { chatDecider } from '../../commands/chat/decide.ts'
import type { ChatCommand } from '../../commands/chat/commands.ts'
import { handleCommand } from '../../commands/handler.ts'
import { AgentRunner, type RunnerOptions } from '../../src/agent/runner.ts'
import { stampSequence, type EphemeralItem } from '../../src/live/ephemeral.ts'
import { ToolRegistry, type Tool } from '../../src/agent/tools/registry.ts'
import { SecretStore } from '../../src/config/secrets.ts'
import { ConfigService } from '../../src/config/service.ts'
import type { Database } from '../../src/db/database.ts'
import { chatStream, DEFAULT_ORGANIZATION_ID, type ChatEvent } from '../../src/events/index.ts'
import { createSqlEventStore } from '../../src/eventstore/postgres/index.ts'
import type { EventMetadata, EventStore, StoredEvent } from '../../src/eventstore/types.ts'
import { createProjectionEngine } from '../../src/projections/engine.ts'
import type { ProjectionEngine } from '../../src/projections/types.ts'
import { projections } from '../../projections/index.ts'
import type { ProviderKind } from '../../src/providers/types.ts'
import type { FakeProvider } from '../fakes/script.ts'

export const OWNER = '11111111-1111-4111-8111-111111111111'
export const userMeta: EventMetadata = { actor: { kind: 'user', id: OWNER }, organizationId: DEFAULT_ORGANIZATION_ID }
const adminMeta: EventMetadata = { actor: { kind: 'system', id: 'test' } }

export interface Harness {
  db: Database
  store: EventStore
  engine: ProjectionEngine
  config: ConfigService
  tools: ToolRegistry
  deltas: { chatId: string; delta: EphemeralItem }[]
  startRunner(overrides?: Partial<RunnerOptions>): AgentRunner
  createChat(text: string, extra?: Partial<Extract<ChatCommand, { type: 'CreateChat' }>>): Promise<string>
  command(chatId: string, cmd: ChatCommand): Promise<void>
  events(chatId: string): Promise<StoredEvent[]>
  waitFor(chatId: string, predicate: (events: (StoredEvent & ChatEvent)[]) => boolean, timeoutMs?: number): Promise<(StoredEvent & ChatEvent)[]>
  close(): Promise<void>
}

/** Configures `fake` as the default model: pricing 3/15 per million, a small context window for compaction tests. */
export async function configureFakeModel(
  config: ConfigService,
  fake: FakeProvider,
  kind: ProviderKind,
  opts: { contextWindow?: number; thresholdPercent?: number; apiKey?: string } = {},
) {
  await config.execute(
    {
      type: 'ConfigureProvider',
      settings: { providerId: 'fake', kind, displayName: 'Fake', baseUrl: fake.baseUrl, apiVersion: null, deployment: null, region: null },
    },
    adminMeta,
  )
  await config.setProviderApiKey('fake', opts.apiKey ?? 'sk-test-key', adminMeta)
  await config.execute(
    {
      type: 'ConfigureModel',
      settings: {
        modelId: 'fake-model',
        providerId: 'fake',
        modelName: 'fake-model-1',
        displayName: 'Fake model',
        enabled: true,
        isDefault: true,
        contextWindow: opts.contextWindow ?? 100_000,
        compactionThresholdPercent: opts.thresholdPercent ?? 70,
        maxOutputTokens: 1000,
        pricing: { input: 3, output: 15, cacheRead: 0.3, cacheWrite: 3.75 },
        api: null,
      },
    },
    adminMeta,
  )
}

export async function startHarness(db: Database, extraTools: Tool[] = []): Promise<Harness> {
  const store = createSqlEventStore(db)
  const engine = createProjectionEngine({ db, store, projections })
  await engine.start()
  const config = new ConfigService(store, new SecretStore(db, Buffer.alloc(32, 7)), { streamSilenceMs: 5_000 })
  const tools = new ToolRegistry().register(...extraTools)
  const deltas: Harness['deltas'] = []
  const runners: AgentRunner[] = []
  const h: Harness = {
    db,
    store,
    engine,
    config,
    tools,
    deltas,
    startRunner(overrides = {}) {
      const runner = new AgentRunner({
        db,
        store,
        config,
        tools,
        publish: stampSequence((chatId, delta) => void deltas.push({ chatId, delta })),
        loadAttachment: async () => null,
        pollIntervalMs: 100,
        retryBaseMs: 1_000,
        ...overrides,
      })
      engine.onApplied((projection, events) => projection === 'chats' && runner.noticeApplied(events))
      runner.start()
      runners.push(runner)
      return runner
    },
    async createChat(text, extra = {}) {
      const chatId = randomUUID()
      await h.command(chatId, {
        type: 'CreateChat',
        chatId,
        ownerId: OWNER,
        organizationId: DEFAULT_ORGANIZATION_ID,
        title: 'New chat',
        modelId: null,
        workspaceId: null,
        planMode: false,
        firstMessage: { messageId: randomUUID(), parts: [{ type: 'text', text }] },
        ...extra,
      })
      return chatId
    },
    async command(chatId, cmd) {
      await handleCommand(store, chatStream(chatId), chatDecider, cmd, { commandId: randomUUID(), metadata: userMeta })
    },
    events: (chatId) => store.readStream(chatStream(chatId)),
    async waitFor(chatId, predicate, timeoutMs = 20_000) {
      const deadline = Date.now() + timeoutMs
      for (;;) {
        const events = (await store.readStream(chatStream(chatId)).catch(() => [])) as (StoredEvent & ChatEvent)[]
        if (predicate(events)) return events
        if (Date.now() > deadline) throw new Error(`timed out; events so far: ${events.map((e) => e.type).join(', ')}`)
        await new Promise((r) => setTimeout(r, 50))
      }
    },
    async close() {
      for (const r of runners) await r.stop()
      await engine.stop()
      await store.close()
    },
  }
  return h
}

export const types = (events: { type: string }[]) => events.map((e) => e.type)
