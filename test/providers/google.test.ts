import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createProvider, type AssistantPart, type ModelMessage, type ModelProvider } from '../../src/providers/index.ts'
import { startFakeProvider, type FakeProvider } from '../fakes/script.ts'
import { providerContract } from './contract.ts'
import { collect, fold, PNG, request } from './support.ts'

const API_KEY = 'AIzaSyTestSecretKey0123456789abcdefghij'

providerContract({
  name: 'Google Gemini',
  fake: 'google',
  model: 'gemini-2.5-pro',
  config: (fake) => ({ kind: 'google', apiKey: API_KEY, baseUrl: fake.baseUrl }),
  secret: API_KEY,
  // Gemini reports thoughts beside candidates: output = candidates + thoughts.
  expectedUsage: { inputTokens: 100, outputTokens: 52, cacheReadTokens: 30, cacheWriteTokens: 0, reasoningTokens: 12 },
})

describe('Google Gemini adapter (wire shapes)', () => {
  let fake: FakeProvider
  let provider: ModelProvider
  beforeAll(async () => {
    fake = await startFakeProvider('google')
    provider = createProvider({ kind: 'google', apiKey: API_KEY, baseUrl: fake.baseUrl })
  })
  afterAll(() => fake.close())

  it('calls streamGenerateContent with alt=sse, the key header, system instruction and function declarations', async () => {
    fake.enqueue({ text: 'hi' })
    await collect(provider.stream(request('gemini-2.5-pro')))
    expect(fake.urls.at(-1)).toMatch(/^\/v1(beta)?\/models\/gemini-2\.5-pro:streamGenerateContent\?alt=sse$/)
    expect(fake.headers.at(-1)!['x-goog-api-key']).toBe(API_KEY)
    const body = fake.requests.at(-1) as Record<string, unknown>
    expect(body['systemInstruction']).toMatchObject({ parts: [{ text: 'You are a careful coding agent.' }] })
    expect(body['tools']).toEqual([{ functionDeclarations: [expect.objectContaining({ name: 'read_file', parametersJsonSchema: expect.any(Object) })] }])
  })

  it('sends both tool results back as functionResponse parts, with thoughtSignatures round-tripped unchanged', async () => {
    fake.enqueue({
      reasoning: 'Read both files.',
      toolCalls: [
        { name: 'read_file', arguments: { path: 'a.ts' } },
        { name: 'read_file', arguments: { path: 'b.ts' } },
      ],
    })
    const first = fold(await collect(provider.stream(request('gemini-2.5-pro', { reasoning: { budgetTokens: 1024 } }))))
    expect(first.reasoning).toBe('Read both files.')
    expect(first.reasoningSignatures).toHaveLength(1)
    expect(first.calls[0]!.signature).toBeTruthy()
    expect(first.calls[1]!.signature).toBeUndefined()
    expect(first.finish).toEqual(['tool_calls'])
    expect(fake.requests.at(-1)).toMatchObject({ generationConfig: { thinkingConfig: { includeThoughts: true, thinkingBudget: 1024 } } })

    const history: ModelMessage[] = [
      { role: 'user', parts: [{ type: 'text', text: 'Hello' }] },
      {
        role: 'assistant',
        parts: [
          { type: 'reasoning', text: first.reasoning, signature: first.reasoningSignatures[0]! },
          ...first.calls.map(
            (c): AssistantPart => ({ type: 'tool_call', id: c.id, name: c.name, arguments: c.arguments, ...(c.signature ? { signature: c.signature } : {}) }),
          ),
        ],
      },
      {
        role: 'tool',
        results: [
          { callId: first.calls[0]!.id, name: 'read_file', content: 'export const a = 1', isError: false },
          { callId: first.calls[1]!.id, name: 'read_file', content: 'ENOENT', isError: true, images: [{ mimeType: 'image/png', data: PNG }] },
        ],
      },
    ]
    fake.enqueue({ text: 'Done.' })
    await collect(provider.stream(request('gemini-2.5-pro', { messages: history })))
    const contents = (fake.requests.at(-1) as { contents: { role: string; parts: Record<string, unknown>[] }[] }).contents
    expect(contents.map((c) => c.role)).toEqual(['user', 'model', 'user'])
    expect(contents[1]!.parts).toEqual([
      { text: 'Read both files.', thought: true, thoughtSignature: first.reasoningSignatures[0] },
      { functionCall: { name: 'read_file', args: { path: 'a.ts' } }, thoughtSignature: first.calls[0]!.signature },
      { functionCall: { name: 'read_file', args: { path: 'b.ts' } } },
    ])
    expect(contents[2]!.parts).toEqual([
      { functionResponse: { name: 'read_file', response: { output: 'export const a = 1' } } },
      { functionResponse: { name: 'read_file', response: { error: 'ENOENT' } } },
      { inlineData: { mimeType: 'image/png', data: PNG } },
    ])
  })

  it('round-trips a thoughtSignature that came on a text part', async () => {
    fake.enqueue({ reasoning: 'quick thought', text: 'Final answer.' })
    const first = fold(await collect(provider.stream(request('gemini-2.5-pro'))))
    expect(first.textSignatures).toHaveLength(1)
    const history: ModelMessage[] = [
      { role: 'user', parts: [{ type: 'text', text: 'Hello' }] },
      { role: 'assistant', parts: [{ type: 'text', text: first.text, signature: first.textSignatures[0]! }] },
      { role: 'user', parts: [{ type: 'text', text: 'Thanks' }] },
    ]
    fake.enqueue({ text: 'You are welcome.' })
    await collect(provider.stream(request('gemini-2.5-pro', { messages: history })))
    const contents = (fake.requests.at(-1) as { contents: { parts: Record<string, unknown>[] }[] }).contents
    expect(contents[1]!.parts).toEqual([{ text: 'Final answer.', thoughtSignature: first.textSignatures[0] }])
  })

  it('sends a user image as inlineData', async () => {
    fake.enqueue({ text: 'A pixel.' })
    const messages: ModelMessage[] = [
      { role: 'user', parts: [{ type: 'text', text: 'What is this?' }, { type: 'image', mimeType: 'image/png', data: PNG }] },
    ]
    await collect(provider.stream(request('gemini-2.5-pro', { messages })))
    const contents = (fake.requests.at(-1) as { contents: { parts: unknown[] }[] }).contents
    expect(contents[0]!.parts).toEqual([{ text: 'What is this?' }, { inlineData: { mimeType: 'image/png', data: PNG } }])
  })
})
