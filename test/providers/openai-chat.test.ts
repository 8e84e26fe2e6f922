import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import OpenAI from 'openai'
import { createProvider, type ModelMessage, type ModelProvider } from '../../src/providers/index.ts'
import { startFakeProvider, type FakeProvider } from '../fakes/script.ts'
import { providerContract } from './contract.ts'
import { collect, fold, PNG, request } from './support.ts'

const API_KEY = 'sk-proj-test-secret-key-0123456789abcdef'
const chatUsage = { inputTokens: 100, outputTokens: 40, cacheReadTokens: 30, cacheWriteTokens: 0, reasoningTokens: 12 }

providerContract({
  name: 'OpenAI Chat Completions',
  fake: 'openai-chat',
  model: 'gpt-4.1',
  config: (fake) => ({ kind: 'openai-chat', apiKey: API_KEY, baseUrl: fake.baseUrl }),
  secret: API_KEY,
  expectedUsage: chatUsage,
})

providerContract({
  name: 'Azure OpenAI (chat)',
  fake: 'openai-chat',
  model: 'gpt-4.1',
  config: (fake) => ({
    kind: 'azure-openai',
    apiKey: API_KEY,
    baseUrl: fake.baseUrl.replace(/\/v1$/, ''),
    apiVersion: '2024-10-21',
    deployment: 'prod-gpt41',
  }),
  secret: API_KEY,
  expectedUsage: chatUsage,
})

describe('OpenAI Chat Completions adapter (wire shapes)', () => {
  let fake: FakeProvider
  let provider: ModelProvider
  beforeAll(async () => {
    fake = await startFakeProvider('openai-chat')
    provider = createProvider({ kind: 'openai-chat', apiKey: API_KEY, baseUrl: fake.baseUrl })
  })
  afterAll(() => fake.close())

  it('asks for usage in the stream and sends the key as a bearer token', async () => {
    fake.enqueue({ text: 'hi' })
    await collect(provider.stream(request('gpt-4.1')))
    const body = fake.requests.at(-1) as Record<string, unknown>
    expect(body['stream']).toBe(true)
    expect(body['stream_options']).toEqual({ include_usage: true })
    expect((body['messages'] as unknown[])[0]).toEqual({ role: 'system', content: 'You are a careful coding agent.' })
    expect(fake.headers.at(-1)!['authorization']).toBe(`Bearer ${API_KEY}`)
  })

  it('sends the assistant tool calls back and both results as role tool messages', async () => {
    fake.enqueue({
      toolCalls: [
        { name: 'read_file', arguments: { path: 'a.ts' } },
        { name: 'read_file', arguments: { path: 'b.ts' } },
      ],
    })
    const first = fold(await collect(provider.stream(request('gpt-4.1'))))
    const history: ModelMessage[] = [
      { role: 'user', parts: [{ type: 'text', text: 'Hello' }] },
      { role: 'assistant', parts: first.calls.map((c) => ({ type: 'tool_call' as const, id: c.id, name: c.name, arguments: c.arguments })) },
      {
        role: 'tool',
        results: [
          { callId: first.calls[0]!.id, name: 'read_file', content: 'export const a = 1', isError: false },
          { callId: first.calls[1]!.id, name: 'read_file', content: 'shot', isError: false, images: [{ mimeType: 'image/png', data: PNG }] },
        ],
      },
    ]
    fake.enqueue({ text: 'Done.' })
    await collect(provider.stream(request('gpt-4.1', { messages: history })))
    const messages = (fake.requests.at(-1) as { messages: Record<string, unknown>[] }).messages
    expect(messages[2]).toEqual({
      role: 'assistant',
      content: null,
      tool_calls: first.calls.map((c) => ({ id: c.id, type: 'function', function: { name: 'read_file', arguments: JSON.stringify(c.arguments) } })),
    })
    expect(messages[3]).toEqual({ role: 'tool', tool_call_id: first.calls[0]!.id, content: 'export const a = 1' })
    expect(messages[4]).toEqual({ role: 'tool', tool_call_id: first.calls[1]!.id, content: 'shot' })
    // Tool messages are text-only: the image follows as a user message.
    expect(messages[5]).toMatchObject({ role: 'user', content: [{ type: 'text' }, { type: 'image_url', image_url: { url: `data:image/png;base64,${PNG}` } }] })
  })

  it('sends a user image as an image_url data URL', async () => {
    fake.enqueue({ text: 'A pixel.' })
    const messages: ModelMessage[] = [
      { role: 'user', parts: [{ type: 'text', text: 'What is this?' }, { type: 'image', mimeType: 'image/png', data: PNG }] },
    ]
    await collect(provider.stream(request('gpt-4.1', { messages })))
    const sent = (fake.requests.at(-1) as { messages: { content: unknown }[] }).messages[1]!
    expect(sent.content).toEqual([
      { type: 'text', text: 'What is this?' },
      { type: 'image_url', image_url: { url: `data:image/png;base64,${PNG}` } },
    ])
  })

  it('is accepted by the SDK ChatCompletionStream helper, which checks chunks strictly', async () => {
    const client = new OpenAI({ apiKey: API_KEY, baseURL: fake.baseUrl, maxRetries: 0 })
    fake.enqueue({ text: 'hello', toolCalls: [{ name: 'read_file', arguments: { path: 'x' } }] })
    const completion = await client.chat.completions
      .stream({ model: 'gpt-4.1', messages: [{ role: 'user', content: 'hi' }], stream_options: { include_usage: true } })
      .finalChatCompletion()
    expect(completion.choices[0]!.message.tool_calls).toHaveLength(1)
    expect(completion.usage?.prompt_tokens).toBe(10)
  })
})

describe('Azure OpenAI and OpenAI-compatible through the chat adapter', () => {
  let fake: FakeProvider
  beforeAll(async () => {
    fake = await startFakeProvider('openai-chat')
  })
  afterAll(() => fake.close())

  it('calls the Azure deployment URL with api-version and the api-key header', async () => {
    const provider = createProvider({
      kind: 'azure-openai',
      apiKey: API_KEY,
      baseUrl: fake.baseUrl.replace(/\/v1$/, ''),
      apiVersion: '2024-10-21',
      deployment: 'prod-gpt41',
    })
    fake.enqueue({ text: 'hi' })
    fold(await collect(provider.stream(request('gpt-4.1'))))
    expect(fake.urls.at(-1)).toBe('/openai/deployments/prod-gpt41/chat/completions?api-version=2024-10-21')
    expect(fake.headers.at(-1)!['api-key']).toBe(API_KEY)
  })

  it('sends a placeholder key to an OpenAI-compatible server configured without one, and max_tokens', async () => {
    const provider = createProvider({ kind: 'openai-compatible', baseUrl: fake.baseUrl })
    fake.enqueue({ text: 'local model says hi', reasoning: 'thinking locally' })
    const f = fold(await collect(provider.stream(request('qwen3-coder', { maxOutputTokens: 512 }))))
    expect(f.text).toBe('local model says hi')
    expect(f.reasoning).toBe('thinking locally')
    expect(fake.headers.at(-1)!['authorization']).toMatch(/^Bearer \S+/)
    expect((fake.requests.at(-1) as Record<string, unknown>)['max_tokens']).toBe(512)
  })
})
