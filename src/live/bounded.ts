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

/** Takes one item; calls `done` once it is through (with an error, to end the subscription with it). */
export type Deliver<T> = (item: T, done: (err?: unknown) => void) => void

export interface BoundedIterator<T> extends AsyncIterableIterator<T> {
  /**
   * The other way to consume (use it instead of `next()`, not with it): every item goes to `deliver`
   * in order, one at a time, the next when `done` is called — and an item pushed while nothing is
   * in flight goes at once, inside `push`, so a fan-out to writers that send synchronously costs no
   * promise per subscriber (src/api/shared-execution.ts). Resolves when the source has ended and
   * every item is delivered; rejects when it fails (too slow included).
   */
  drain(deliver: Deliver<T>): Promise<void>
}

export function boundedIterator<T>(opts: BoundedOptions<T>): BoundedIterator<T> {
  return new BoundedBuffer(opts)
}

/** A class rather than closures: a subscriber holds one of these, so its size is per-subscriber memory. */
class BoundedBuffer<T> implements BoundedSource<T>, BoundedIterator<T> {
  readonly #buffer: T[] = []
  readonly #capacity: number
  readonly #halfFull: number
  readonly #slowAfterMs: number
  readonly #onOverflow: (() => void) | undefined
  #waiting: { resolve(r: IteratorResult<T>): void; reject(e: unknown): void } | null = null
  #closed = false
  #error: unknown = null
  #stop: (() => void) | null = null
  #roomWaiters: (() => void)[] = []
  #deliver: Deliver<T> | null = null
  #delivering = false
  #drained: { resolve(): void; reject(e: unknown): void } | null = null

  constructor(opts: BoundedOptions<T>) {
    this.#capacity = opts.capacity
    this.#halfFull = Math.max(1, Math.ceil(opts.capacity / 2))
    this.#slowAfterMs = opts.slowAfterMs ?? DEFAULT_SLOW_SUBSCRIBER_MS
    this.#onOverflow = opts.onOverflow
    subscriptionBufferStats.open++
    const stopper = opts.start(this)
    if (this.#closed) stopper()
    else this.#stop = stopper
  }

  #overflow() {
    subscriptionBufferStats.overflows++
    this.#buffer.length = 0 // the client will never get these; free them now
    this.#finish(new SubscriberTooSlowError(this.#capacity))
    this.#onOverflow?.()
  }

  #wakeRoomWaiters() {
    const waiters = this.#roomWaiters
    if (!waiters.length) return
    this.#roomWaiters = []
    for (const w of waiters) w()
  }

  #finish(err: unknown) {
    if (this.#closed) return
    this.#closed = true
    subscriptionBufferStats.open--
    this.#wakeRoomWaiters()
    if (err) this.#error = err
    const s = this.#stop
    this.#stop = null
    try {
      s?.()
    } catch {
      // stopping a producer must not mask why we stopped
    }
    if (this.#waiting && this.#buffer.length === 0) {
      const w = this.#waiting
      this.#waiting = null
      const e = this.#error
      this.#error = null
      if (e) w.reject(e)
      else w.resolve({ value: undefined, done: true })
    }
    this.#pump()
  }

  /** In `drain` mode: hands buffered items over one at a time, and settles once closed and empty. */
  #pump() {
    while (this.#deliver && !this.#delivering) {
      if (!this.#buffer.length) {
        if (this.#closed) this.#settle()
        return
      }
      const item = this.#buffer.shift()!
      if (this.#buffer.length < this.#halfFull) this.#wakeRoomWaiters()
      this.#delivering = true
      let returned = false
      this.#deliver(item, (err) => {
        if (err) {
          this.#buffer.length = 0
          this.#finish(err)
        }
        this.#delivering = false
        if (returned) this.#pump() // else the loop goes on
      })
      returned = true
    }
  }

  #settle() {
    const drained = this.#drained
    if (!drained) return
    this.#drained = null
    this.#deliver = null
    const e = this.#error
    this.#error = null
    if (e) drained.reject(e)
    else drained.resolve()
  }

  push(item: T): boolean {
    if (this.#closed) return false
    if (this.#waiting) {
      const w = this.#waiting
      this.#waiting = null
      w.resolve({ value: item, done: false })
      return true
    }
    if (this.#buffer.length >= this.#capacity) {
      this.#overflow()
      return false
    }
    this.#buffer.push(item)
    if (this.#buffer.length > subscriptionBufferStats.highWater) subscriptionBufferStats.highWater = this.#buffer.length
    this.#pump()
    return true
  }

  async pushWhenRoom(item: T): Promise<boolean> {
    if (!this.#closed && this.#buffer.length >= this.#halfFull) {
      let timer: NodeJS.Timeout | undefined
      const roomed = await new Promise<boolean>((resolve) => {
        this.#roomWaiters.push(() => resolve(true))
        timer = setTimeout(() => resolve(false), this.#slowAfterMs)
      })
      clearTimeout(timer)
      if (!roomed && !this.#closed && this.#buffer.length >= this.#halfFull) {
        this.#overflow()
        return false
      }
    }
    return this.push(item)
  }

  pushIfRoom(item: T): 'pushed' | 'full' | 'closed' {
    if (this.#closed) return 'closed'
    if (this.#buffer.length >= this.#halfFull) return 'full'
    return this.push(item) ? 'pushed' : 'closed'
  }

  fail(err: unknown) {
    this.#finish(err ?? new Error('subscription failed'))
  }

  end() {
    this.#finish(null)
  }

  drain(deliver: Deliver<T>): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#deliver = deliver
      this.#drained = { resolve, reject }
      this.#pump()
    })
  }

  next(): Promise<IteratorResult<T>> {
    if (this.#buffer.length) {
      const value = this.#buffer.shift()!
      if (this.#buffer.length < this.#halfFull) this.#wakeRoomWaiters()
      return Promise.resolve({ value, done: false })
    }
    if (this.#error) {
      const e = this.#error
      this.#error = null
      return Promise.reject(e)
    }
    if (this.#closed) return Promise.resolve({ value: undefined, done: true })
    return new Promise((resolve, reject) => {
      this.#waiting = { resolve, reject }
    })
  }

  return(): Promise<IteratorResult<T>> {
    this.#buffer.length = 0
    this.#error = null
    this.#finish(null)
    return Promise.resolve({ value: undefined, done: true })
  }

  throw(err?: unknown): Promise<IteratorResult<T>> {
    this.#buffer.length = 0
    this.#finish(null)
    return Promise.reject(err)
  }

  [Symbol.asyncIterator]() {
    return this
  }
}
