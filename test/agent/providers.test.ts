// Every provider adapter through the whole loop: the runner sends an image, gets two parallel
// tool calls, sends both results back in the provider's shape, and records usage and cost.
import { randomUUID } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Tool } from '../../src/agent/tools/registry.ts'
import type { ProviderKind } from '../../src/providers/types.ts'
import { startFakeProvider, type FakeKind } from '../fakes/script.ts'
import { backends } from '../support/databases.ts'
import { configureFakeModel, OWNER, startHarness, type Harness } from './harness.ts'
import { DEFAULT_ORGANIZATION_ID } from '../../src/events/index.ts'

// A 1×1 PNG.
const PNG = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=='
const IMAGE_ID = '22222222-2222-4222-8222-222222222222'

const multiply: Tool = {
  name: 'multiply',
  description: 'Multiplies two numbers.',
  inputSchema: { type: 'object', properties: { a: { type: 'number' }, b: { type: 'number' } }, required: ['a', 'b'] },
  async run(args) {
    const { a, b } = args as { a: number; b: number }
    return { content: `product=${a * b}`, isError: false }
  },
}

const KINDS: [FakeKind, ProviderKind][] = [
  ['anthropic', 'anthropic'],
  ['openai-chat', 'openai-chat'],
  ['openai-responses', 'openai-responses'],
  ['google', 'google'],
]

const pglite = backends.find((b) => b.name === 'pglite')!

describe.each(KINDS)('the agent loop through the %s adapter', (fakeKind, providerKind) => {
  let h: Harness
  let close: () => Promise<void>
  let fake: Awaited<ReturnType<typeof startFakeProvider>>

  beforeAll(async () => {
    fake = await startFakeProvider(fakeKind)
    const opened = await pglite.open()
    close = opened.close
    h = await startHarness(opened.db, [multiply])
    await configureFakeModel(h.config, fake, providerKind)
  })
  afterAll(async () => {
    await h.close()
    await close()
    await fake.close()
  })

  it('sends an image, runs two parallel tool calls, returns both results, and records usage and cost', async () => {
    fake.enqueue(
      {
        toolCalls: [
          { id: 'call_x', name: 'multiply', arguments: { a: 6, b: 7 } },
          { id: 'call_y', name: 'multiply', arguments: { a: 3, b: 5 } },
        ],
        usage: { input: 1200, output: 40 },
      },
      { text: 'The products are 42 and 15.', usage: { input: 1300, output: 12 } },
    )
    h.startRunner({ loadAttachment: async (id) => (id === IMAGE_ID ? { mimeType: 'image/png', data: PNG } : null) })
    const chatId = randomUUID()
    await h.command(chatId, {
      type: 'CreateChat',
      chatId,
      ownerId: OWNER,
      organizationId: DEFAULT_ORGANIZATION_ID,
      title: 'kept title',
      modelId: null,
      workspaceId: null,
      planMode: false,
      firstMessage: {
        messageId: randomUUID(),
        parts: [
          { type: 'text', text: 'multiply what the picture says' },
          { type: 'attachment', attachmentId: IMAGE_ID, sha256: 'x'.repeat(64), mimeType: 'image/png', name: 'dot.png', size: 68 },
        ],
      },
    })
    const events = await h.waitFor(chatId, (es) => es.some((e) => e.type === 'TurnCompleted' || e.type === 'TurnFailed'))
    expect(events.at(-1)?.type).toBe('TurnCompleted')

    const first = JSON.stringify(fake.requests[0])
    expect(first).toContain(PNG)
    const second = JSON.stringify(fake.requests[1])
    expect(second).toContain('product=42')
    expect(second).toContain('product=15')

    const completions = events.filter((e) => e.type === 'ToolCallCompleted')
    expect(completions.map((e) => (e.data as { result: string }).result).sort()).toEqual(['product=15', 'product=42'])
    const steps = events.filter((e) => e.type === 'AssistantStepCompleted')
    expect(steps).toHaveLength(2)
    for (const step of steps) {
      const data = step.data as { usage: { inputTokens: number; outputTokens: number }; costUsd: number }
      expect(data.usage.inputTokens).toBeGreaterThan(0)
      expect(data.usage.outputTokens).toBeGreaterThan(0)
      expect(data.costUsd).toBeGreaterThan(0)
    }
    const last = steps.at(-1)!.data as { text: string }
    expect(last.text).toBe('The products are 42 and 15.')
  })
})
