import { END, excludeSystemEvents } from '@eventstore/db-client'
import type { AppendWatch } from '../types.ts'
import type { EsdbClientLike } from './client.ts'
import { clientSubscription } from './subscription.ts'

const RETRY_MIN_MS = 200
const RETRY_MAX_MS = 5_000

/**
 * Wake-ups for appends by any process on the cluster: one live-only `$all` subscription (from the
 * end, system events left out on the node), resubscribed with backoff if the node drops it. A
 * subscription delivers an event once `$all` reads serve it, so the wake-up is never early.
 */
export function watchAppends(client: EsdbClientLike, onAppend: (streams: readonly string[]) => void): AppendWatch {
  let stopped = false
  let current: ReturnType<typeof liveAppends> | undefined
  let retryMs = RETRY_MIN_MS
  let sleeping: { timer: NodeJS.Timeout; resolve(): void } | undefined

  const loop = (async () => {
    while (!stopped) {
      current = liveAppends(client)
      try {
        for await (const stream of current) {
          retryMs = RETRY_MIN_MS
          onAppend([stream])
        }
      } catch {
        // The node went away or dropped the subscription: readers poll meanwhile.
      }
      if (stopped) return
      // Whatever was appended while no subscription was open: wake everyone once it is back.
      await new Promise<void>((resolve) => (sleeping = { timer: setTimeout(resolve, retryMs), resolve }))
      retryMs = Math.min(retryMs * 2, RETRY_MAX_MS)
      if (!stopped) onAppend([''])
    }
  })()

  return {
    visibleLate: false,
    async stop() {
      stopped = true
      if (sleeping) {
        clearTimeout(sleeping.timer)
        sleeping.resolve()
      }
      await current?.close()
      await loop
    },
  }
}

function liveAppends(client: EsdbClientLike) {
  return clientSubscription(async function* (scope) {
    for await (const { event } of scope.follow(client.subscribeToAll({ fromPosition: END, filter: excludeSystemEvents() }))) {
      if (event) yield event.streamId
    }
  })
}
