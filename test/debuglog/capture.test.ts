// The capture at the SDKs' fetch and the redaction of streamed bodies, without a server: the
// provider side is a ReadableStream this test feeds chunk by chunk.
import { describe, expect, it } from 'vitest'
import { capturingFetch, DEBUG_BODY_LIMIT, withDebugCapture, type ProviderExchange } from '../../src/providers/debug-capture.ts'
import { redactStreamedBody } from '../../src/debuglog/redact-frames.ts'
import { SecretRedactor } from '../../src/secrets/redact.ts'

const enc = new TextEncoder()

function controlledResponse(headers: Record<string, string> = { 'content-type': 'text/event-stream' }) {
  let push!: (text: string) => void
  let end!: () => void
  const body = new ReadableStream<Uint8Array>({
    start(c) {
      push = (t) => c.enqueue(enc.encode(t))
      end = () => c.close()
    },
  })
  return { response: new Response(body, { status: 200, headers: { ...headers, 'x-request-id': 'req_1', 'set-cookie': 'session=abc' } }), push: (t: string) => push(t), end: () => end() }
}

describe('capturingFetch', () => {
  it('outside a capture scope is the plain fetch: same arguments, same response', async () => {
    const seen: unknown[] = []
    const original = new Response('ok')
    const f = capturingFetch(async (input, init) => {
      seen.push(input, init)
      return original
    })
    const init = { method: 'POST', body: '{}' }
    expect(await f('https://api.example/v1/x', init)).toBe(original)
    expect(seen).toEqual(['https://api.example/v1/x', init])
  })

  it('tees the body: the SDK reads each chunk as it arrives, the capture holds the whole exchange without credentials', async () => {
    const wire = controlledResponse()
    const records: ProviderExchange[] = []
    const f = capturingFetch(async () => wire.response)
    const res = await withDebugCapture({ record: (e) => records.push(e) }, () =>
      f('https://api.example/v1/chat/completions?key=AIzaSecret', {
        method: 'POST',
        headers: { authorization: 'Bearer sk-live-1234567890', 'x-api-key': 'k', 'api-key': 'k', 'x-goog-api-key': 'k', 'content-type': 'application/json' },
        body: '{"model":"m","stream":true}',
      }),
    )
    const reader = res.body!.getReader()
    wire.push('data: {"a":1}\n\n')
    expect(new TextDecoder().decode((await reader.read()).value)).toBe('data: {"a":1}\n\n')
    expect(records).toHaveLength(0) // still streaming
    wire.push('data: [DONE]\n\n')
    expect(new TextDecoder().decode((await reader.read()).value)).toBe('data: [DONE]\n\n')
    wire.end()
    expect((await reader.read()).done).toBe(true)
    await new Promise((r) => setTimeout(r, 10))
    expect(records).toHaveLength(1)
    const r = records[0]!
    expect(r).toMatchObject({ method: 'POST', status: 200, requestBody: '{"model":"m","stream":true}', responseBody: 'data: {"a":1}\n\ndata: [DONE]\n\n', error: null })
    expect(r.urlPath).toBe('/v1/chat/completions?key=redacted')
    expect(r.requestHeaders).toEqual({ 'content-type': 'application/json' })
    expect(r.responseHeaders).toEqual({ 'content-type': 'text/event-stream', 'x-request-id': 'req_1' })
    expect(res.status).toBe(200)
  })

  it('cuts a body past the limit and says so', async () => {
    const wire = controlledResponse({ 'content-type': 'application/json' })
    const records: ProviderExchange[] = []
    const f = capturingFetch(async () => wire.response)
    const res = await withDebugCapture({ record: (e) => records.push(e) }, () => f('https://api.example/v1/x', { method: 'POST', body: 'x' }))
    const text = res.text()
    wire.push('a'.repeat(DEBUG_BODY_LIMIT))
    wire.push('b'.repeat(10))
    wire.end()
    expect((await text).length).toBe(DEBUG_BODY_LIMIT + 10) // the SDK gets everything
    await new Promise((r) => setTimeout(r, 10))
    expect(records[0]!.responseBody.length).toBe(DEBUG_BODY_LIMIT)
    expect(records[0]!.responseTruncated).toBe(true)
  })

  it('records a failed request with its error', async () => {
    const records: ProviderExchange[] = []
    const f = capturingFetch(async () => {
      throw new Error('connect ECONNREFUSED')
    })
    await expect(withDebugCapture({ record: (e) => records.push(e) }, () => f('https://api.example/v1/x', { method: 'POST', body: '{}' }))).rejects.toThrow('ECONNREFUSED')
    expect(records[0]).toMatchObject({ status: null, error: 'connect ECONNREFUSED' })
  })
})

describe('redactStreamedBody', () => {
  const key = 'sk-proj-abcdef0123456789'
  const redactor = new SecretRedactor([{ kind: 'provider_key', value: key }])

  it('redacts a key streamed in pieces across SSE frames, leaving the other frames as they came', () => {
    const frame = (content: string) => `data: ${JSON.stringify({ choices: [{ index: 0, delta: { content } }] })}`
    const body = [frame('my key is sk-pro'), '', frame('j-abcdef01'), '', frame('23456789, ok'), '', 'data: [DONE]', ''].join('\n')
    const out = redactStreamedBody(body, redactor)
    expect(out).not.toMatch(/sk-pro|abcdef01|23456789/)
    const texts = out.split('\n').filter((l) => l.startsWith('data: {')).map((l) => JSON.parse(l.slice(6)).choices[0].delta.content)
    expect(texts.join('')).toBe('my key is [redacted:provider_key], ok')
    expect(out).toContain('data: [DONE]')
  })

  it('redacts a whole key and a secret shape in a plain JSON body', () => {
    const out = redactStreamedBody(JSON.stringify({ error: { message: `bad key ${key}; also ghp_${'a'.repeat(36)}` } }), redactor)
    expect(out).toContain('[redacted:provider_key]')
    expect(out).toContain('[redacted:github_token]')
    expect(out).not.toContain(key)
  })
})
