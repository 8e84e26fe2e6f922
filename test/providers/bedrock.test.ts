import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createProvider, ProviderError, type ModelMessage, type ModelProvider } from '../../src/providers/index.ts'
import { startFakeProvider, type FakeProvider } from '../fakes/script.ts'
import { providerContract } from './contract.ts'
import { collect, fold, PNG, request } from './support.ts'

const SECRET = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY'
const MODEL = 'anthropic.claude-sonnet-4-20250514-v1:0'
const config = (fake: FakeProvider) =>
  ({ kind: 'bedrock', region: 'us-east-1', awsAccessKeyId: 'AKIAIOSFODNN7EXAMPLE', awsSecretAccessKey: SECRET, baseUrl: fake.baseUrl }) as const

providerContract({
  name: 'Amazon Bedrock',
  fake: 'bedrock',
  model: MODEL,
  config,
  secret: SECRET,
  expectedUsage: { inputTokens: 150, outputTokens: 40, cacheReadTokens: 30, cacheWriteTokens: 20, reasoningTokens: 0 },
})

describe('Amazon Bedrock adapter (wire shapes)', () => {
  let fake: FakeProvider
  let provider: ModelProvider
  beforeAll(async () => {
    fake = await startFakeProvider('bedrock')
    provider = createProvider(config(fake))
  })
  afterAll(() => fake.close())

  it('signs with SigV4 and calls invoke-with-response-stream with anthropic_version in the body', async () => {
    fake.enqueue({ text: 'hi from bedrock' })
    const f = fold(await collect(provider.stream(request(MODEL))))
    expect(f.text).toBe('hi from bedrock')
    expect(decodeURIComponent(fake.urls.at(-1)!)).toBe(`/model/${MODEL}/invoke-with-response-stream`)
    const h = fake.headers.at(-1)!
    expect(h['authorization']).toMatch(/^AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE\/\d{8}\/us-east-1\/bedrock\/aws4_request/)
    expect(JSON.stringify(h)).not.toContain(SECRET)
    const body = fake.requests.at(-1) as Record<string, unknown>
    expect(body['anthropic_version']).toBeTruthy()
    expect(body['model']).toBeUndefined()
    expect(body['stream']).toBeUndefined()
  })

  it('sends thinking signatures and tool_result blocks back in Anthropic shape', async () => {
    fake.enqueue({
      reasoning: 'Two reads.',
      toolCalls: [
        { name: 'read_file', arguments: { path: 'a.ts' } },
        { name: 'read_file', arguments: { path: 'b.ts' } },
      ],
    })
    const first = fold(await collect(provider.stream(request(MODEL, { reasoning: { budgetTokens: 1024 } }))))
    const history: ModelMessage[] = [
      { role: 'user', parts: [{ type: 'text', text: 'Hello' }, { type: 'image', mimeType: 'image/png', data: PNG }] },
      {
        role: 'assistant',
        parts: [
          { type: 'reasoning', text: first.reasoning, signature: first.reasoningSignatures[0]! },
          ...first.calls.map((c) => ({ type: 'tool_call' as const, id: c.id, name: c.name, arguments: c.arguments })),
        ],
      },
      { role: 'tool', results: first.calls.map((c) => ({ callId: c.id, name: c.name, content: `read ${c.id}`, isError: false })) },
    ]
    fake.enqueue({ text: 'Done.' })
    await collect(provider.stream(request(MODEL, { messages: history })))
    const messages = (fake.requests.at(-1) as { messages: { content: Record<string, unknown>[] }[] }).messages
    expect(messages[0]!.content[1]).toMatchObject({ type: 'image', source: { type: 'base64', media_type: 'image/png', data: PNG } })
    expect(messages[1]!.content[0]).toEqual({ type: 'thinking', thinking: 'Two reads.', signature: first.reasoningSignatures[0] })
    expect(messages[2]!.content.map((b) => [b['type'], b['tool_use_id']])).toEqual(first.calls.map((c) => ['tool_result', c.id]))
  })

  it('refuses to start without a region', () => {
    expect(() => createProvider({ kind: 'bedrock' })).toThrow(ProviderError)
  })
})
