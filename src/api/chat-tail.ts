/**
 * One live tail of a chat's stream per server process, shared by every subscription on that
 * chat. Before it, each subscriber had its own `store.subscribeToStream`, so one append cost
 * N reads of the database (N subscribers); now it costs one, and each event's view is built
 * once and handed to every subscriber.
 *
 * A subscriber catches up on its own (`readStream` from its revision, a page at a time, waiting
 * for room in its buffer) until it has reached the revision the tail last saw, then joins the
 * tail's fan-out. The check and the join happen in one synchronous step, so the seam has no gap
 * and no duplicate; every subscriber gets strictly increasing revisions.
 *
 * The tail never waits for a subscriber: a subscriber whose buffer is half full leaves the
 * fan-out and reads the store on its own again (its events are all stored), and the buffer's
 * slow-subscriber rule (bounded.ts) disconnects it if it still takes nothing. So a slow
 * subscriber costs the others nothing, and memory per subscriber stays bounded.
 */
import { chatStream } from '../events/chat.ts'
import type { EventStore, StoredEvent, Subscription } from '../eventstore/types.ts'
import type { BoundedSource } from '../live/bounded.ts'
import { eventView } from './read-models.ts'

/** Events a catching-up subscriber reads per page (at most one page is held per subscriber). */
const CATCH_UP_PAGE = 500

/** A chat event with its GraphQL payloads, built once per event and shared by all subscribers. */
export interface TailedEvent {
  revision: bigint
  view: ReturnType<typeof eventView>
  /** The `ChatEventItem` member of `chatStream`'s union. */
  item: { __typename: 'ChatEventItem'; event: ReturnType<typeof eventView> }
}

function tailed(event: StoredEvent): TailedEvent {
  const view = eventView(event)
  return { revision: event.revision, view, item: { __typename: 'ChatEventItem', event: view } }
}

interface Follower {
  offer(event: TailedEvent): void
  end(): void
  fail(err: unknown): void
}

class ChatTail {
  readonly followers = new Set<Follower>()
  /** Revision of the last event the tail has seen; before any, the stream's head when it started. */
  head = -1n
  readonly ready: Promise<void>
  #subscription: Subscription<StoredEvent> | null = null
  #stopped = false

  constructor(
    readonly store: EventStore,
    readonly chatId: string,
    private readonly onStop: (tail: ChatTail) => void,
  ) {
    this.ready = this.#open()
    void this.ready.then(
      () => this.#run(),
      (err) => this.#fail(err),
    )
  }

  get stream() {
    return chatStream(this.chatId)
  }

  leave(follower: Follower) {
    this.followers.delete(follower)
    if (this.followers.size === 0) this.#stop()
  }

  async #open() {
    const info = await this.store.streamInfo(this.stream)
    this.head = info?.revision ?? -1n
    if (!this.#stopped) this.#subscription = this.store.subscribeToStream(this.stream, { fromRevision: this.head + 1n })
  }

  async #run() {
    const subscription = this.#subscription
    if (!subscription) return
    try {
      for await (const event of subscription) {
        if (this.#stopped) return
        this.head = event.revision
        const shared = tailed(event)
        for (const follower of this.followers) follower.offer(shared)
      }
      // The store closed under us (server shutdown): end the subscriptions like a finished log.
      if (!this.#stopped) for (const follower of this.#detachAll()) follower.end()
    } catch (err) {
      this.#fail(err)
    }
  }

  #fail(err: unknown) {
    if (this.#stopped) return
    for (const follower of this.#detachAll()) follower.fail(err)
  }

  #detachAll(): Follower[] {
    const all = [...this.followers]
    this.followers.clear()
    this.#stop()
    return all
  }

  #stop() {
    if (this.#stopped) return
    this.#stopped = true
    this.onStop(this)
    void this.#subscription?.close().catch(() => {})
  }
}

const tailsByStore = new WeakMap<EventStore, Map<string, ChatTail>>()
const running = new Set<ChatTail>()

/** The chat tails running in this process and how many subscribers each feeds (for tests and /metrics). */
export function activeChatTails(): { chatId: string; subscribers: number }[] {
  return [...running].map((t) => ({ chatId: t.chatId, subscribers: t.followers.size }))
}

function tailOf(store: EventStore, chatId: string): ChatTail {
  let tails = tailsByStore.get(store)
  if (!tails) tailsByStore.set(store, (tails = new Map()))
  let tail = tails.get(chatId)
  if (!tail) {
    const byChat = tails
    tail = new ChatTail(store, chatId, (stopped) => {
      running.delete(stopped)
      if (byChat.get(chatId) === stopped) byChat.delete(chatId)
    })
    tails.set(chatId, tail)
    running.add(tail)
  }
  return tail
}

/**
 * Feeds `source` with the chat's events from `fromRevision` on (stored, then live through the
 * chat's shared tail), mapped by `pick`. Returns how to stop; the last subscriber to stop ends
 * the tail.
 */
export function followChat<T>(store: EventStore, chatId: string, fromRevision: bigint, source: BoundedSource<T>, pick: (event: TailedEvent) => T): () => void {
  const tail = tailOf(store, chatId)
  let next = fromRevision
  let live = false
  let left = false

  // Methods, not named closures: one follower per subscriber.
  const follower: Follower & { catchUp(): Promise<void> } = {
    offer(event) {
      if (!live || event.revision < next) return
      const pushed = source.pushIfRoom(pick(event))
      if (pushed === 'pushed') next = event.revision + 1n
      else if (pushed === 'full') {
        // Lagging: leave the fan-out and read the store at this subscriber's own pace.
        live = false
        void follower.catchUp()
      }
    },
    end() {
      source.end()
    },
    fail(err) {
      source.fail(err)
    },
    async catchUp() {
      try {
        await tail.ready
        for (;;) {
          if (left) return
          // Synchronous with the tail's fan-out: every event after `head` reaches us through offer().
          if (next > tail.head) {
            live = true
            return
          }
          const page = await store.readStream(tail.stream, { fromRevision: next, maxCount: CATCH_UP_PAGE })
          for (const event of page) {
            if (event.revision < next) continue
            if (!(await source.pushWhenRoom(pick(tailed(event))))) return
            next = event.revision + 1n
          }
          if (page.length === 0) {
            // Nothing stored at `next` although the tail saw `head`: cannot happen; join rather than spin.
            live = true
            return
          }
        }
      } catch (err) {
        if (!left) source.fail(err)
      }
    },
  }

  tail.followers.add(follower)
  void follower.catchUp()
  return () => {
    if (left) return
    left = true
    tail.leave(follower)
  }
}
