// Wraps an SDK stream with what every adapter needs the same way: a silence
// watchdog, abort handling that always ends in ProviderError 'aborted', and
// classification of anything the SDK throws.
import { classifyProviderError, type ClassifyContext } from './errors.ts'
import { ProviderError } from './types.ts'

export const DEFAULT_STREAM_SILENCE_MS = 120_000

export interface GuardOptions extends ClassifyContext {
  silenceMs: number
  provider: string
}

/**
 * `open` receives the signal to hand to the SDK; it fires when the caller aborts,
 * when the stream goes silent, or when the consumer stops early.
 */
export async function* guardStream<T>(
  open: (signal: AbortSignal) => Promise<AsyncIterable<T>> | AsyncIterable<T>,
  opts: GuardOptions,
): AsyncGenerator<T> {
  const controller = new AbortController()
  const userSignal = opts.signal
  const onAbort = () => controller.abort(userSignal?.reason)
  if (userSignal?.aborted) throw aborted(opts.provider)
  userSignal?.addEventListener('abort', onAbort, { once: true })

  const ctx: ClassifyContext = { provider: opts.provider, secrets: opts.secrets ?? [] }
  if (userSignal) ctx.signal = userSignal
  let iterator: AsyncIterator<T> | undefined
  let finished = false
  try {
    const iterable = await step(Promise.resolve(open(controller.signal)), controller, opts)
    iterator = iterable[Symbol.asyncIterator]()
    while (true) {
      const next = await step(iterator.next(), controller, opts)
      if (userSignal?.aborted) throw aborted(opts.provider)
      if (next.done) break
      yield next.value
    }
    finished = true
  } catch (err) {
    finished = true
    if (userSignal?.aborted) throw aborted(opts.provider)
    throw classifyProviderError(err, ctx)
  } finally {
    userSignal?.removeEventListener('abort', onAbort)
    // Consumer stopped early: release the HTTP request.
    if (!finished) controller.abort()
    void iterator?.return?.()?.catch(() => {})
  }
}

/** Races one SDK step against the silence timer and the caller's abort. */
function step<V>(work: Promise<V>, controller: AbortController, opts: GuardOptions): Promise<V> {
  work.catch(() => {}) // a step abandoned by the race must not surface as unhandled
  return new Promise<V>((resolve, reject) => {
    const timer = setTimeout(() => {
      cleanup()
      controller.abort()
      reject(
        new ProviderError(
          'stream_silence',
          `${opts.provider} sent nothing for ${Math.round(opts.silenceMs / 1000)}s; the stream was abandoned and can be retried.`,
          { retryable: true },
        ),
      )
    }, opts.silenceMs)
    const onAbort = () => {
      cleanup()
      reject(aborted(opts.provider))
    }
    const cleanup = () => {
      clearTimeout(timer)
      opts.signal?.removeEventListener('abort', onAbort)
    }
    if (opts.signal?.aborted) return onAbort()
    opts.signal?.addEventListener('abort', onAbort, { once: true })
    work.then(
      (value) => {
        cleanup()
        resolve(value)
      },
      (err: unknown) => {
        cleanup()
        reject(err)
      },
    )
  })
}

function aborted(provider: string): ProviderError {
  return new ProviderError('aborted', `The request to ${provider} was cancelled.`, { retryable: false })
}

/** Thrown when a stream ends without the provider's end-of-response marker. */
export function incompleteStream(provider: string): ProviderError {
  return new ProviderError('unknown', `${provider} closed the stream before the response was complete; retrying may help.`, {
    retryable: true,
  })
}

/** Tool arguments arrive as JSON text; keep the raw text if it does not parse so the model can be told. */
export function parseArguments(json: string): unknown {
  if (json.trim() === '') return {}
  try {
    return JSON.parse(json)
  } catch {
    return json
  }
}
