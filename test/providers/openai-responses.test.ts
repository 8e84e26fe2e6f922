import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import OpenAI from 'openai'
import { createProvider, type ModelMessage, type ModelProvider } from '../../src/providers/index.ts'
import { startFakeProvider, type FakeProvider } from '../fakes/script.ts'
import { providerContract } from './contract.ts'
import { collect, fold, PNG, request } from './support.ts'

const API_KEY = 'sk-proj-test-secret-key-0123456789abcdef'

providerContract({
  name: 'OpenAI Responses',
  fake: 'openai-responses',
  model: 'gpt-5',
  config: (fake) => ({ kind: 'openai-responses', apiKey: API_KEY, baseUrl: fake.baseUrl }),
  secret: API_KEY,
  expectedUsage: { inputTokens: 100, outputTokens: 40, cacheReadTokens: 30, cacheWriteTokens: 0, reasoningTokens: 12 },
})

describe('OpenAI Responses adapter (wire shapes)', () => {
  let fake: FakeProvider
  let provider: ModelProvider
  beforeAll(async () => {
    fake = await startFakeProvider('openai-responses')
    provider = createProvider({ kind: 'openai-responses', apiKey: API_KEY, baseUrl: fake.baseUrl })
  })
  afterAll(() => fake.close())

  it('sends store false, instructions, function tools and the key', async () => {
    fake.enqueue({ text: 'hi' })
    await collect(provider.stream(request('gpt-5')))
    const body = fake.requests.at(-1) as Record<string, unknown>
    expect(body).toMatchObject({ stream: true, store: false, instructions: 'You are a careful coding agent.' })
    expect(body['tools']).toEqual([expect.objectContaining({ type: 'function', name: 'read_file' })])
    expect(fake.headers.at(-1)!['authorization']).toBe(`Bearer ${API_KEY}`)
  })

  it('streams reasoning summaries and replays reasoning, function calls and function_call_output items', async () => {
    fake.enqueue({
      reasoning: 'Both files are needed.',
      toolCalls: [
        { name: 'read_file', arguments: { path: 'a.ts' } },
        { name: 'read_file', arguments: { path: 'b.ts' } },
      ],
    })
    const first = fold(await collect(provider.stream(request('gpt-5', { reasoning: { effort: 'low' } }))))
    expect(first.reasoning).toBe('Both files are needed.')
    expect(first.reasoningSignatures).toHaveLength(1)
    expect(fake.requests.at(-1)).toMatchObject({ reasoning: { effort: 'low', summary: 'auto' }, include: ['reasoning.encrypted_content'] })

    const history: ModelMessage[] = [
      { role: 'user', parts: [{ type: 'text', text: 'Hello' }] },
      {
        role: 'assistant',
        parts: [
          { type: 'reasoning', text: first.reasoning, signature: first.reasoningSignatures[0]! },
          ...first.calls.map((c) => ({ type: 'tool_call' as const, id: c.id, name: c.name, arguments: c.arguments })),
        ],
      },
      {
        role: 'tool',
        results: [
          { callId: first.calls[0]!.id, name: 'read_file', content: 'export const a = 1', isError: false },
          { callId: first.calls[1]!.id, name: 'read_file', content: 'a screenshot', isError: false, images: [{ mimeType: 'image/png', data: PNG }] },
        ],
      },
    ]
    fake.enqueue({ text: 'Done.' })
    await collect(provider.stream(request('gpt-5', { messages: history })))
    const input = (fake.requests.at(-1) as { input: Record<string, unknown>[] }).input
    expect(input[1]).toMatchObject({ type: 'reasoning', encrypted_content: expect.stringMatching(/^enc_fake/), summary: [{ type: 'summary_text', text: 'Both files are needed.' }] })
    expect(input.slice(2, 4)).toEqual(
      first.calls.map((c) => ({ type: 'function_call', call_id: c.id, name: 'read_file', arguments: JSON.stringify(c.arguments) })),
    )
    expect(input[4]).toEqual({ type: 'function_call_output', call_id: first.calls[0]!.id, output: 'export const a = 1' })
    expect(input[5]).toMatchObject({
      type: 'function_call_output',
      call_id: first.calls[1]!.id,
      output: [{ type: 'input_text', text: 'a screenshot' }, { type: 'input_image', image_url: `data:image/png;base64,${PNG}` }],
    })
  })

  it('sends a user image as input_image', async () => {
    fake.enqueue({ text: 'A pixel.' })
    const messages: ModelMessage[] = [
      { role: 'user', parts: [{ type: 'text', text: 'What is this?' }, { type: 'image', mimeType: 'image/png', data: PNG }] },
    ]
    await collect(provider.stream(request('gpt-5', { messages })))
    const input = (fake.requests.at(-1) as { input: { content: unknown[] }[] }).input
    expect(input[0]!.content).toEqual([
      { type: 'input_text', text: 'What is this?' },
      { type: 'input_image', image_url: `data:image/png;base64,${PNG}`, detail: 'auto' },
    ])
  })

  it('is accepted by the SDK ResponseStream accumulator, which checks indices and ids strictly', async () => {
    const client = new OpenAI({ apiKey: API_KEY, baseURL: fake.baseUrl, maxRetries: 0 })
    fake.enqueue({ reasoning: 'hmm', text: 'hello', toolCalls: [{ name: 'read_file', arguments: { path: 'x' } }, { name: 'read_file', arguments: { path: 'y' } }] })
    const response = await client.responses.stream({ model: 'gpt-5', input: 'hi' }).finalResponse()
    expect(response.output.map((o) => o.type)).toEqual(['reasoning', 'message', 'function_call', 'function_call'])
    expect(response.output_text).toBe('hello')
  })

  it('uses the Responses API for azure-openai when api is responses', async () => {
    const azure = createProvider({
      kind: 'azure-openai',
      api: 'responses',
      apiKey: API_KEY,
      baseUrl: fake.baseUrl.replace(/\/v1$/, ''),
      apiVersion: '2025-04-01-preview',
      deployment: 'prod-gpt5',
    })
    fake.enqueue({ text: 'from azure' })
    const f = fold(await collect(azure.stream(request('gpt-5'))))
    expect(f.text).toBe('from azure')
    expect(fake.urls.at(-1)).toMatch(/\/responses\?api-version=2025-04-01-preview$/)
    expect(fake.headers.at(-1)!['api-key']).toBe(API_KEY)
  })
})
