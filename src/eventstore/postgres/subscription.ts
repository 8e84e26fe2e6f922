import { isConnectionError } from '../../db/database.ts'
import type { Subscription } from '../types.ts'

/** Whether an append to `stream` may hold events for a reader; `types` when the waker knows them. */
/**
 * After a wake-up, readers poll this often, this many times: the woken read can find nothing yet
 * while an older transaction anywhere on the server holds the log's visibility horizon back. A
 * subscription then goes on looking LATE_POLLS times more, at pauses doubling up to LATE_POLL_MAX_MS
 * (about 30 s in all), so a transaction that stays open for seconds (a migration in another
 * database) delays it by about as long, not by a whole poll interval.
 */
export const EAGER_POLL_MS = 50
export const EAGER_POLLS = 20
const LATE_POLLS = 20
const LATE_POLL_MAX_MS = 1_600
/** While the database is unreachable, a subscription reads again after pauses growing between these. */
const OUTAGE_RETRY_MIN_MS = 100
const OUTAGE_RETRY_MAX_MS = 5_000

type StreamMatcher = (stream: string, types?: readonly string[]) => boolean

interface Waiter {
  matches: StreamMatcher
  resolve(): void
}

/** Wake-ups for readers waiting on new events: from NOTIFY and from appends in this process. */
export class Wakeups {
  readonly #waiters = new Set<Waiter>()

  /** `stream` is the appended stream ('' wakes every waiter); `types` its events' types, when known. */
  wake(stream: string, types?: readonly string[]): void {
    for (const waiter of this.#waiters) {
      if (stream === '' || waiter.matches(stream, types)) {
        this.#waiters.delete(waiter)
        waiter.resolve()
      }
    }
  }

  /** Register before reading, so a wake-up that lands during the read is not lost. */
  register(matches: StreamMatcher): { woken: Promise<void>; cancel(): void } {
    let waiter!: Waiter
    const woken = new Promise<void>((resolve) => (waiter = { matches, resolve }))
    this.#waiters.add(waiter)
    return { woken, cancel: () => this.#waiters.delete(waiter) }
  }
}

export interface PagedSubscriptionOptions<T> {
  /** Reads the next page after the cursor it keeps; [] when there is nothing new yet. */
  fetchPage(): Promise<T[]>
  /** Resolved once the NOTIFY listener is in place (or failed: polling still works). */
  ready: Promise<unknown>
  wakeups: Wakeups
  matches: StreamMatcher
  pollIntervalMs: number
  /** The most `fetchPage` returns: a shorter page reached the end of what was visible. */
  pageSize: number
  onClose(): void
}

/**
 * Catch-up and live are one loop: read a page after the cursor; when it is empty, wait for a
 * wake-up or the poll interval and read again. The seam cannot skip or repeat an event, and at
 * most one page is held: the next page is fetched only when the consumer has taken this one.
 */
export class PagedSubscription<T> implements Subscription<T>, AsyncIterator<T> {
  #page: T[] = []
  #index = 0
  #closed = false
  #signalClose!: () => void
  readonly #closing = new Promise<void>((resolve) => (this.#signalClose = resolve))
  #queue: Promise<unknown> = Promise.resolve()
  /** The wake-up registered before the last read, when that read returned a short page. */
  #afterShortPage: { woken: Promise<void>; cancel(): void } | null = null
  #eagerPolls = 0
  /** After the eager polls, how many more and the next pause (doubling up to LATE_POLL_MAX_MS). */
  #latePolls = 0
  #lateMs = 0
  /** The pause before reading again while the database is unreachable; 0 when it answered last. */
  #outageMs = 0

  constructor(private readonly options: PagedSubscriptionOptions<T>) {}

  [Symbol.asyncIterator](): AsyncIterator<T> {
    return this
  }

  next(): Promise<IteratorResult<T>> {
    // Calls are served in order; a consumer awaiting in parallel still sees each event once.
    const result = this.#queue.then(() => this.#next())
    this.#queue = result.catch(() => {})
    return result
  }

  async return(): Promise<IteratorResult<T>> {
    await this.close()
    return { value: undefined, done: true }
  }

  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    this.#page = []
    this.#afterShortPage?.cancel()
    this.#signalClose()
    this.options.onClose()
  }

  async #next(): Promise<IteratorResult<T>> {
    await this.options.ready
    for (;;) {
      if (this.#closed) return { value: undefined, done: true }
      if (this.#index < this.#page.length) return { value: this.#page[this.#index++]!, done: false }
      // After a short page, read again only once something new may be there: the wake-up
      // registered before that read, or the poll (the read would otherwise find nothing).
      if (this.#afterShortPage) {
        const { woken, cancel } = this.#afterShortPage
        this.#afterShortPage = null
        await this.#wait(woken)
        cancel()
        continue
      }
      const wake = this.options.wakeups.register(this.options.matches)
      let page: T[]
      try {
        page = await this.options.fetchPage()
        this.#outageMs = 0
      } catch (error) {
        wake.cancel()
        // The database is away (a restart): the cursor did not move, so read again once it may be back.
        if (!isConnectionError(error)) throw error
        this.#outageMs = Math.min(Math.max(this.#outageMs * 2, OUTAGE_RETRY_MIN_MS), OUTAGE_RETRY_MAX_MS)
        await this.#pause(this.#outageMs)
        continue
      }
      if (page.length) {
        if (page.length < this.options.pageSize) this.#afterShortPage = wake
        else wake.cancel()
        this.#page = page
        this.#index = 0
        continue
      }
      await this.#wait(wake.woken)
      wake.cancel()
    }
  }

  #pause(ms: number): Promise<unknown> {
    let timer: NodeJS.Timeout | undefined
    return Promise.race([new Promise((resolve) => (timer = setTimeout(resolve, ms))), this.#closing]).finally(() => clearTimeout(timer))
  }

  /** Until `woken`, the poll interval, or close; after a wake-up, the next few polls come soon (EAGER_POLLS). */
  async #wait(woken: Promise<void>): Promise<void> {
    let timer: NodeJS.Timeout | undefined
    const interval = this.options.pollIntervalMs
    let ms = interval
    if (this.#eagerPolls > 0) {
      ms = Math.min(EAGER_POLL_MS, interval)
      if (--this.#eagerPolls === 0) [this.#latePolls, this.#lateMs] = [LATE_POLLS, EAGER_POLL_MS * 2]
    } else if (this.#latePolls > 0) {
      this.#latePolls--
      ms = Math.min(this.#lateMs, interval)
      this.#lateMs = Math.min(this.#lateMs * 2, LATE_POLL_MAX_MS)
    }
    const poll = new Promise<'poll'>((resolve) => (timer = setTimeout(() => resolve('poll'), ms)))
    const outcome = await Promise.race([woken.then(() => 'woken' as const), poll, this.#closing])
    clearTimeout(timer)
    if (outcome === 'woken') {
      this.#eagerPolls = EAGER_POLLS
      this.#latePolls = 0
    }
  }
}
