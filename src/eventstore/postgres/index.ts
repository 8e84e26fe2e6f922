import type { Database } from '../../db/database.ts'
import { eventHash } from '../hash.ts'
import {
  StreamNotFoundError,
  type AppendOptions,
  type Checkpoint,
  type EventStore,
  type NewEvent,
  type ReadAllOptions,
  type StoredEvent,
  type VerifyResult,
} from '../types.ts'
import { appendEvents, prepareEvents } from './append.ts'
import { CommitNotifier, EVENTS_CHANNEL, parseNotification } from './notify.ts'
import { headCheckpoint, readAll, readStream, readStreamForFold, streamInfo } from './read.ts'
import { sharedReadAll } from '../shared-read.ts'
import { PagedSubscription, Wakeups } from './subscription.ts'

export interface SqlEventStoreOptions {
  /** How often a live subscription re-reads when no wake-up came (a lost NOTIFY, a late commit). */
  pollIntervalMs?: number
  /** Events a subscription fetches per read; also the most it holds ahead of its consumer. */
  pageSize?: number
}

const VERIFY_PAGE = 1000

/**
 * The event store on PostgreSQL (a `pg` pool) or PGlite: the same SQL on both. The store does not
 * own `db`: `close()` ends its subscriptions and its listener, and leaves the database open.
 */
export function createSqlEventStore(db: Database, options: SqlEventStoreOptions = {}): EventStore {
  const pollIntervalMs = options.pollIntervalMs ?? 1000
  const pageSize = options.pageSize ?? 500
  const wakeups = new Wakeups()
  const notifier = new CommitNotifier(db)
  const subscriptions = new Set<PagedSubscription<unknown>>()
  /** `watchAppends` callers, told of this store's appends at the append, with the events' types; of other processes' through NOTIFY. */
  const appendWatchers = new Set<(streams: readonly string[], types?: readonly string[]) => void>()
  let listening: Promise<(() => Promise<void>) | null> | null = null
  let closed = false
  // Projections and the runner's watch wake on the same append: one read serves them all.
  const readAllShared = sharedReadAll((readOptions) => readAll(db, readOptions))

  function listen(): Promise<unknown> {
    // Without a listener (say, a pooler that drops LISTEN) polling still delivers.
    listening ??= db.listen(EVENTS_CHANNEL, (payload) => {
      const { origin, streams } = parseNotification(payload)
      if (origin === notifier.origin) return // woken at the append already, with its event types
      for (const stream of streams) wakeups.wake(stream)
    }).catch(() => null)
    return listening
  }

  function subscribe<T>(fetchPage: () => Promise<T[]>, matches: (stream: string, types?: readonly string[]) => boolean): PagedSubscription<T> {
    if (closed) throw new Error('the event store is closed')
    const subscription: PagedSubscription<T> = new PagedSubscription<T>({
      fetchPage,
      ready: listen(),
      wakeups,
      matches,
      pollIntervalMs,
      pageSize,
      onClose: () => subscriptions.delete(subscription as PagedSubscription<unknown>),
    })
    subscriptions.add(subscription as PagedSubscription<unknown>)
    return subscription
  }

  return {
    async appendToStream(stream: string, events: NewEvent[], appendOptions: AppendOptions = {}) {
      const result = await appendEvents(db, stream, prepareEvents(stream, events), appendOptions)
      const types = events.map((e) => e.type)
      wakeups.wake(stream, types)
      for (const watcher of appendWatchers) {
        try {
          watcher([stream], types)
        } catch {
          // A wake-up is best effort; the append has committed.
        }
      }
      notifier.announce(stream)
      return result
    },

    readStream: (stream, readOptions) => readStream(db, stream, readOptions),
    readStreamForFold: (stream, readOptions) => readStreamForFold(db, stream, readOptions),
    streamInfo: (stream) => streamInfo(db, stream),
    readAll: (readOptions = {}) => readAllShared(readOptions),
    headCheckpoint: () => headCheckpoint(db),

    subscribeToStream(stream, subscribeOptions = {}) {
      let next = subscribeOptions.fromRevision ?? 0n
      return subscribe<StoredEvent>(
        async () => {
          let events: StoredEvent[]
          try {
            events = await readStream(db, stream, { fromRevision: next, maxCount: pageSize })
          } catch (error) {
            // Subscribing before the first append is allowed: wait for the stream to appear.
            if (error instanceof StreamNotFoundError) return []
            throw error
          }
          if (events.length) next = events[events.length - 1]!.revision + 1n
          return events
        },
        (appended) => appended === stream,
      )
    },

    subscribeToAll(subscribeOptions = {}) {
      let after: Checkpoint = subscribeOptions.after ?? ''
      const filter: ReadAllOptions['filter'] = subscribeOptions.filter
      const prefix = filter?.streamPrefix ?? ''
      return subscribe(
        async () => {
          const page = await readAllShared({ after, maxCount: pageSize, filter })
          after = page.checkpoint
          return page.events
        },
        (appended, types) => appended.startsWith(prefix) && (!types || !filter?.eventTypes || types.some((t) => filter.eventTypes!.includes(t))),
      )
    },

    async verifyStream(stream: string): Promise<VerifyResult> {
      let previous = ''
      let checked = 0
      let from = 0n
      for (;;) {
        const events = await readStream(db, stream, { fromRevision: from, maxCount: VERIFY_PAGE })
        for (const event of events) {
          const expected = eventHash(previous, event)
          checked++
          if (expected !== event.hash) {
            return { ok: false, checked, firstBad: { revision: event.revision, id: event.id, expected, actual: event.hash } }
          }
          previous = event.hash
        }
        if (events.length < VERIFY_PAGE) return { ok: true, checked }
        from = events[events.length - 1]!.revision + 1n
      }
    },

    async watchAppends(onAppend) {
      // This store's appends at the append, with their types (a projection of other types stays
      // asleep, and the woken ones read together); other processes' (and other stores') from their NOTIFY.
      const unlisten = await db.listen(EVENTS_CHANNEL, (payload) => {
        const { origin, streams } = parseNotification(payload)
        if (origin !== notifier.origin) onAppend(streams)
      })
      appendWatchers.add(onAppend)
      return {
        visibleLate: true,
        stop: async () => {
          appendWatchers.delete(onAppend)
          await unlisten()
        },
      }
    },

    async close() {
      closed = true
      await Promise.all([...subscriptions].map((s) => s.close()))
      await notifier.settled()
      notifier.leave()
      const unlisten = await listening
      listening = null
      await unlisten?.()
    },
  }
}
