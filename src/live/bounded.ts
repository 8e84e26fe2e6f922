/**
 * A bounded buffer between producers and a GraphQL subscription that pulls as fast as its
 * socket drains (mercurius awaits each socket write, so a client that stops reading stops
 * pulling). Two kinds of producer:
 * - the log can wait: it pauses at half the capacity (the store reads a page at a time
 *   only when pulled, so a paused reader holds at most one page) — but a subscriber that takes
 *   no item for `slowAfterMs` is too slow. The shared chat tail (chat-tail.ts) never waits: it
 *   offers with `pushIfRoom`, and a subscriber that is half full goes back to reading the
 *   store on its own, so one slow subscriber does not hold up the others;
 * - push-only sources (ephemeral deltas) cannot wait: they use the other half, and a full
 *   buffer means the subscriber is too slow.
 * Too slow: the subscription ends with SubscriberTooSlowError and `onOverflow` closes that
 * client's connection. Memory per subscription is bounded by `capacity` items (+ one page).
 */

export const DEFAULT_SUBSCRIPTION_BUFFER = 1000
export const DEFAULT_SLOW_SUBSCRIBER_MS = 10_000

export class SubscriberTooSlowError extends Error {
  readonly code = 'SUBSCRIBER_TOO_SLOW'
  constructor(capacity: number) {
    super(`the subscriber fell ${capacity} items behind and was disconnected; resubscribe from the last revision it saw`)
    this.name = 'SubscriberTooSlowError'
  }
}

/** Process-wide numbers, for /metrics and for tests that assert the cap holds. */
export const subscriptionBufferStats = {
  /** The most items any one subscription buffer has held. */
  highWater: 0,
  /** Subscriptions ended because their buffer was full. */
  overflows: 0,
  /** Subscriptions open now. */
  open: 0,
}

export interface BoundedSource<T> {
  /** Returns false once the subscription is closed (or has just overflowed). */
  push(item: T): boolean
  /** Waits while the buffer is half full; overflows when no room appears within `slowAfterMs`. */
  pushWhenRoom(item: T): Promise<boolean>
  /** Never waits: 'full' (nothing pushed, no overflow) while the buffer is half full, for a
   *  producer that can come back later for the item — a shared log tail whose subscriber lags. */
  pushIfRoom(item: T): 'pushed' | 'full' | 'closed'
  /** Ends the subscription with an error (e.g. the log tail failed). */
  fail(err: unknown): void
  /** Ends the subscription normally. */
  end(): void
}

export interface BoundedOptions<T> {
  capacity: number
  slowAfterMs?: number
  /** Starts producing; returns how to stop. Called once, right away. */
  start(source: BoundedSource<T>): () => void
  onOverflow?: () => void
}

export function boundedIterator<T>(opts: BoundedOptions<T>): AsyncIterableIterator<T> {
  const buffer: T[] = []
  let waiting: { resolve(r: IteratorResult<T>): void; reject(e: unknown): void } | null = null
  let closed = false
  let error: unknown = null
  let stop: (() => void) | null = null
  let roomWaiters: (() => void)[] = []
  const halfFull = Math.max(1, Math.ceil(opts.capacity / 2))
  subscriptionBufferStats.open++

  function overflow() {
    subscriptionBufferStats.overflows++
    buffer.length = 0 // the client will never get these; free them now
    finish(new SubscriberTooSlowError(opts.capacity))
    opts.onOverflow?.()
  }

  function wakeRoomWaiters() {
    const waiters = roomWaiters
    roomWaiters = []
    for (const w of waiters) w()
  }

  function finish(err: unknown) {
    if (closed) return
    closed = true
    subscriptionBufferStats.open--
    wakeRoomWaiters()
    if (err) error = err
    const s = stop
    stop = null
    try {
      s?.()
    } catch {
      // stopping a producer must not mask why we stopped
    }
    if (waiting) {
      const w = waiting
      waiting = null
      if (error && buffer.length === 0) {
        const e = error
        error = null
        w.reject(e)
      } else if (buffer.length === 0) w.resolve({ value: undefined, done: true })
    }
  }

  const source: BoundedSource<T> = {
    push(item) {
      if (closed) return false
      if (waiting) {
        const w = waiting
        waiting = null
        w.resolve({ value: item, done: false })
        return true
      }
      if (buffer.length >= opts.capacity) {
        overflow()
        return false
      }
      buffer.push(item)
      if (buffer.length > subscriptionBufferStats.highWater) subscriptionBufferStats.highWater = buffer.length
      return true
    },
    async pushWhenRoom(item) {
      if (!closed && buffer.length >= halfFull) {
        let timer: NodeJS.Timeout | undefined
        const roomed = await new Promise<boolean>((resolve) => {
          roomWaiters.push(() => resolve(true))
          timer = setTimeout(() => resolve(false), opts.slowAfterMs ?? DEFAULT_SLOW_SUBSCRIBER_MS)
        })
        clearTimeout(timer)
        if (!roomed && !closed && buffer.length >= halfFull) {
          overflow()
          return false
        }
      }
      return source.push(item)
    },
    pushIfRoom(item) {
      if (closed) return 'closed'
      if (buffer.length >= halfFull) return 'full'
      return source.push(item) ? 'pushed' : 'closed'
    },
    fail: (err) => finish(err ?? new Error('subscription failed')),
    end: () => finish(null),
  }

  const iterator: AsyncIterableIterator<T> = {
    next() {
      if (buffer.length) {
        const value = buffer.shift()!
        if (buffer.length < halfFull) wakeRoomWaiters()
        return Promise.resolve({ value, done: false })
      }
      if (error) {
        const e = error
        error = null
        return Promise.reject(e)
      }
      if (closed) return Promise.resolve({ value: undefined, done: true })
      return new Promise((resolve, reject) => {
        waiting = { resolve, reject }
      })
    },
    return() {
      buffer.length = 0
      error = null
      finish(null)
      return Promise.resolve({ value: undefined, done: true })
    },
    throw(err?: unknown) {
      buffer.length = 0
      finish(null)
      return Promise.reject(err)
    },
    [Symbol.asyncIterator]() {
      return this
    },
  }

  const stopper = opts.start(source)
  if (closed) stopper()
  else stop = stopper
  return iterator
}
