import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createProvider, type ModelMessage, type ModelProvider } from '../../src/providers/index.ts'
import { startFakeProvider, type FakeProvider } from '../fakes/script.ts'
import { providerContract } from './contract.ts'
import { collect, fold, PNG, request } from './support.ts'

const API_KEY = 'sk-ant-api03-test-secret-key-0123456789'

providerContract({
  name: 'Anthropic',
  fake: 'anthropic',
  model: 'claude-test-model',
  config: (fake) => ({ kind: 'anthropic', apiKey: API_KEY, baseUrl: fake.baseUrl }),
  secret: API_KEY,
  expectedUsage: { inputTokens: 150, outputTokens: 40, cacheReadTokens: 30, cacheWriteTokens: 20, reasoningTokens: 0 },
})

describe('Anthropic adapter (wire shapes)', () => {
  let fake: FakeProvider
  let provider: ModelProvider
  beforeAll(async () => {
    fake = await startFakeProvider('anthropic')
    provider = createProvider({ kind: 'anthropic', apiKey: API_KEY, baseUrl: fake.baseUrl })
  })
  afterAll(() => fake.close())

  it('sends the API key and an anthropic-version header', async () => {
    fake.enqueue({ text: 'hi' })
    await collect(provider.stream(request('claude-test-model')))
    const h = fake.headers.at(-1)!
    // SDK 1.x sends the key as a bearer token; older SDKs used x-api-key.
    expect([h['x-api-key'], h['authorization']]).toContain(h['x-api-key'] === API_KEY ? API_KEY : `Bearer ${API_KEY}`)
    expect(h['anthropic-version']).toMatch(/^\d{4}-\d{2}-\d{2}$/)
    const body = fake.requests.at(-1) as Record<string, unknown>
    expect(body['stream']).toBe(true)
    expect(body['tools']).toEqual([
      { name: 'read_file', description: 'Read a file from the workspace', input_schema: expect.objectContaining({ type: 'object' }) },
    ])
  })

  it('streams thinking as reasoning and sends it back with its signature, tool results as tool_result blocks', async () => {
    fake.enqueue({
      reasoning: 'I should read both files.',
      toolCalls: [
        { name: 'read_file', arguments: { path: 'a.ts' } },
        { name: 'read_file', arguments: { path: 'b.ts' } },
      ],
    })
    const first = fold(await collect(provider.stream(request('claude-test-model', { reasoning: { budgetTokens: 2048 } }))))
    expect(first.reasoning).toBe('I should read both files.')
    expect(first.reasoningSignatures).toHaveLength(1)
    expect((fake.requests.at(-1) as Record<string, unknown>)['thinking']).toEqual({ type: 'enabled', budget_tokens: 2048 })

    const history: ModelMessage[] = [
      { role: 'user', parts: [{ type: 'text', text: 'Hello' }] },
      {
        role: 'assistant',
        parts: [
          { type: 'reasoning', text: first.reasoning, signature: first.reasoningSignatures[0]! },
          { type: 'reasoning', text: '', signature: 'opaque-redacted-data', redacted: true },
          ...first.calls.map((c) => ({ type: 'tool_call' as const, id: c.id, name: c.name, arguments: c.arguments })),
        ],
      },
      {
        role: 'tool',
        results: [
          { callId: first.calls[0]!.id, name: 'read_file', content: 'export const a = 1', isError: false },
          { callId: first.calls[1]!.id, name: 'read_file', content: 'ENOENT: b.ts', isError: true, images: [{ mimeType: 'image/png', data: PNG }] },
        ],
      },
    ]
    fake.enqueue({ text: 'Done.' })
    fold(await collect(provider.stream(request('claude-test-model', { messages: history, reasoning: { budgetTokens: 2048 } }))))

    const body = fake.requests.at(-1) as { messages: { role: string; content: Record<string, unknown>[] }[] }
    expect(body.messages.map((m) => m.role)).toEqual(['user', 'assistant', 'user'])
    expect(body.messages[1]!.content).toEqual([
      { type: 'thinking', thinking: 'I should read both files.', signature: first.reasoningSignatures[0] },
      { type: 'redacted_thinking', data: 'opaque-redacted-data' },
      { type: 'tool_use', id: first.calls[0]!.id, name: 'read_file', input: { path: 'a.ts' } },
      { type: 'tool_use', id: first.calls[1]!.id, name: 'read_file', input: { path: 'b.ts' } },
    ])
    const [r1, r2] = body.messages[2]!.content
    expect(r1).toMatchObject({ type: 'tool_result', tool_use_id: first.calls[0]!.id, is_error: false, content: [{ type: 'text', text: 'export const a = 1' }] })
    expect(r2).toMatchObject({
      type: 'tool_result',
      tool_use_id: first.calls[1]!.id,
      is_error: true,
      content: [
        { type: 'text', text: 'ENOENT: b.ts' },
        { type: 'image', source: { type: 'base64', media_type: 'image/png', data: PNG } },
      ],
    })
  })

  it('sends a user image as a base64 image block', async () => {
    fake.enqueue({ text: 'A pixel.' })
    const messages: ModelMessage[] = [
      { role: 'user', parts: [{ type: 'text', text: 'What is this?' }, { type: 'image', mimeType: 'image/png', data: PNG }] },
    ]
    await collect(provider.stream(request('claude-test-model', { messages })))
    const body = fake.requests.at(-1) as { messages: { content: unknown[] }[] }
    expect(body.messages[0]!.content[1]).toMatchObject({ type: 'image', source: { type: 'base64', media_type: 'image/png', data: PNG } })
  })

  it('is accepted by the SDK MessageStream helper, which checks event order strictly', async () => {
    const { default: Anthropic } = await import('@anthropic-ai/sdk')
    const client = new Anthropic({ apiKey: API_KEY, baseURL: fake.baseUrl, maxRetries: 0 })
    fake.enqueue({ reasoning: 'hmm', text: 'hello', toolCalls: [{ name: 'read_file', arguments: { path: 'x' } }] })
    const message = await client.messages
      .stream({ model: 'claude-test-model', max_tokens: 100, messages: [{ role: 'user', content: 'hi' }] })
      .finalMessage()
    expect(message.content.map((b) => b.type)).toEqual(['thinking', 'text', 'tool_use'])
    expect(message.stop_reason).toBe('tool_use')
  })
})
