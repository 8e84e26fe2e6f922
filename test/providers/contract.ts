// Behaviour every adapter must share, run through the official SDK against its
// wire-faithful fake. Provider-specific request shapes live in each *.test.ts.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createProvider, type ModelProvider, type ProviderConfig, type Usage } from '../../src/providers/index.ts'
import { startFakeProvider, type FakeKind, type FakeProvider } from '../fakes/script.ts'
import { collect, failure, fold, request } from './support.ts'

export interface ContractOptions {
  name: string
  fake: FakeKind
  model: string
  config(fake: FakeProvider): ProviderConfig
  /** The secret that must never show up in an error (API key or AWS secret). */
  secret: string
  /** What the adapter should report for wire usage {input 100, output 40, cacheRead 30, cacheWrite 20, reasoning 12}. */
  expectedUsage: Usage
}

export function providerContract(opts: ContractOptions): void {
  describe(`${opts.name} adapter (shared behaviour)`, () => {
    let fake: FakeProvider
    let provider: ModelProvider
    let slowProvider: ModelProvider

    beforeAll(async () => {
      fake = await startFakeProvider(opts.fake)
      provider = createProvider(opts.config(fake))
      slowProvider = createProvider({ ...opts.config(fake), streamSilenceMs: 300 })
    })
    afterAll(() => fake.close())

    it('streams text as deltas that concatenate, then usage and finish stop', async () => {
      fake.enqueue({ text: 'The answer is forty-two, as computed.' })
      const f = fold(await collect(provider.stream(request(opts.model))))
      expect(f.text).toBe('The answer is forty-two, as computed.')
      expect(f.textDeltas).toBeGreaterThan(1)
      expect(f.finish).toEqual(['stop'])
      expect(f.calls).toEqual([])
    })

    it('maps input, output, cache and reasoning usage to one total before finish', async () => {
      fake.enqueue({ text: 'counted', usage: { input: 100, output: 40, cacheRead: 30, cacheWrite: 20, reasoning: 12 } })
      const f = fold(await collect(provider.stream(request(opts.model))))
      expect(f.usage).toEqual([opts.expectedUsage])
    })

    it('ends two parallel tool calls with parsed arguments and finish tool_calls', async () => {
      fake.enqueue({
        text: 'Reading both.',
        toolCalls: [
          { name: 'read_file', arguments: { path: 'a.ts' } },
          { name: 'read_file', arguments: { path: 'b.ts' } },
        ],
      })
      const f = fold(await collect(provider.stream(request(opts.model))))
      expect(f.calls.map((c) => c.arguments)).toEqual([{ path: 'a.ts' }, { path: 'b.ts' }])
      expect(f.calls.map((c) => c.name)).toEqual(['read_file', 'read_file'])
      expect(new Set(f.calls.map((c) => c.id)).size).toBe(2)
      for (const c of f.calls) expect(JSON.parse(c.deltas)).toEqual(c.arguments)
      expect(f.finish).toEqual(['tool_calls'])
    })

    it('classifies 429 with retry-after as a retryable rate_limit carrying the delay', async () => {
      fake.enqueue({ fault: { status: 429, retryAfterSeconds: 7 } })
      const err = await failure(provider.stream(request(opts.model)))
      expect(err.kind).toBe('rate_limit')
      expect(err.retryable).toBe(true)
      expect(err.retryAfterMs).toBe(7000)
    })

    it('classifies an overloaded answer (529 or its provider equivalent) as retryable overloaded', async () => {
      fake.enqueue({ fault: { status: 529 } })
      const err = await failure(provider.stream(request(opts.model)))
      expect(err.kind).toBe('overloaded')
      expect(err.retryable).toBe(true)
    })

    it('classifies 500 as retryable', async () => {
      fake.enqueue({ fault: { status: 500 } })
      const err = await failure(provider.stream(request(opts.model)))
      expect(err.retryable).toBe(true)
    })

    it('classifies rejected credentials as auth, not retryable, without echoing the secret', async () => {
      fake.enqueue({ fault: { status: 401, message: `Incorrect API key provided: ${opts.secret}` } })
      const err = await failure(provider.stream(request(opts.model)))
      expect(err.kind).toBe('auth')
      expect(err.retryable).toBe(false)
      expect(err.message).not.toContain(opts.secret)
      expect(err.message).not.toContain(opts.secret.slice(0, 10))
      expect(String(err.stack)).not.toContain(opts.secret)
    })

    it('classifies a context-length 400 as context_window_exceeded', async () => {
      fake.enqueue({ fault: { status: 400, message: 'prompt is too long: 210000 tokens > 200000 maximum context length' } })
      const err = await failure(provider.stream(request(opts.model)))
      expect(err.kind).toBe('context_window_exceeded')
      expect(err.retryable).toBe(false)
    })

    it('reports a stream cut mid-way as a retryable error', async () => {
      fake.enqueue({ text: 'This response will be cut somewhere in the middle of it.', fault: 'cut' })
      const err = await failure(provider.stream(request(opts.model)))
      expect(err.retryable).toBe(true)
    })

    it('reports a chunk that is not JSON as a retryable error', async () => {
      fake.enqueue({ text: 'This response has a malformed chunk in the middle.', fault: 'malformed' })
      const err = await failure(provider.stream(request(opts.model)))
      expect(err.retryable).toBe(true)
    })

    it('gives up on a silent stream with stream_silence', async () => {
      fake.enqueue({ text: 'This response goes quiet after one chunk.', fault: 'silence' })
      const started = Date.now()
      const err = await failure(slowProvider.stream(request(opts.model)))
      expect(err.kind).toBe('stream_silence')
      expect(err.retryable).toBe(true)
      expect(Date.now() - started).toBeLessThan(5000)
    })

    it('ends with aborted (not retryable) when the signal fires mid-stream', async () => {
      fake.enqueue({ text: 'A slow answer that the user interrupts halfway through.', chunkDelayMs: 100 })
      const controller = new AbortController()
      const seen: string[] = []
      const err = await (async () => {
        try {
          for await (const e of provider.stream(request(opts.model, { signal: controller.signal }))) {
            seen.push(e.type)
            if (e.type === 'text_delta') controller.abort()
          }
        } catch (e) {
          return e as { kind?: string; retryable?: boolean }
        }
        throw new Error('expected an abort')
      })()
      expect(err.kind).toBe('aborted')
      expect(err.retryable).toBe(false)
      expect(seen).not.toContain('finish')
    })

    it('ends with aborted when the signal fired before the request', async () => {
      const controller = new AbortController()
      controller.abort()
      const err = await failure(provider.stream(request(opts.model, { signal: controller.signal })))
      expect(err.kind).toBe('aborted')
    })
  })
}
