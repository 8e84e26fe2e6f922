import type { Readable } from 'node:stream'
import type { Subscription } from '../types.ts'

/** What the client's subscriptions have in common: a Readable you can unsubscribe. */
type ClientSubscription<E> = Readable & { unsubscribe(): Promise<void>; [Symbol.asyncIterator](): AsyncIterator<E> }

export interface SubscriptionScope {
  readonly closed: boolean
  /** Yields the client subscription's events until it fails or this subscription is closed. */
  follow<E>(source: ClientSubscription<E>): AsyncGenerator<E>
}

const CLOSED = Symbol('closed')

/**
 * Wraps a catch-up body in our `Subscription`. The client's `unsubscribe()` cancels the gRPC
 * call but never ends the Readable (the cancellation error is swallowed), so a `for await`
 * over it would hang after close: every read here races a close signal instead, and the
 * source is destroyed once unsubscribed.
 */
export function clientSubscription<T>(body: (scope: SubscriptionScope) => AsyncGenerator<T>): Subscription<T> {
  let closed = false
  let signalClose!: (value: typeof CLOSED) => void
  const closing = new Promise<typeof CLOSED>((resolve) => {
    signalClose = resolve
  })
  const sources = new Set<ClientSubscription<unknown>>()
  const stopped = new WeakSet<ClientSubscription<unknown>>()

  async function stop(source: ClientSubscription<unknown>): Promise<void> {
    if (stopped.has(source)) return
    stopped.add(source)
    sources.delete(source)
    await source.unsubscribe().catch(() => undefined)
    source.destroy()
  }

  const scope: SubscriptionScope = {
    get closed() {
      return closed
    },
    async *follow<E>(source: ClientSubscription<E>): AsyncGenerator<E> {
      sources.add(source)
      try {
        if (closed) return
        const reader = source[Symbol.asyncIterator]()
        while (true) {
          const next = reader.next()
          // When close wins the race, this read is abandoned and rejects on destroy: expected.
          next.catch(() => undefined)
          const result = await Promise.race([next, closing])
          if (result === CLOSED || result.done) return
          yield result.value
        }
      } finally {
        await stop(source)
      }
    },
  }

  let iterator: AsyncGenerator<T> | undefined
  return {
    [Symbol.asyncIterator]() {
      iterator ??= body(scope)
      return iterator
    },
    async close() {
      if (closed) return
      closed = true
      signalClose(CLOSED)
      await Promise.all([...sources].map(stop))
    },
  }
}
