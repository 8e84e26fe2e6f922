/**
 * EventStoreDB / KurrentDB backend of the event store (`@eventstore/db-client` 6.x).
 *
 * Reading and subscribing to `$all` (readAll, headCheckpoint, subscribeToAll) needs a user with
 * `$all` read rights — `admin` on a default server — so put credentials in the connection
 * string, e.g. `esdb://admin:changeit@localhost:2113?tls=false`.
 */
import { EventStoreDBClient } from '@eventstore/db-client'
import type { EventStore } from '../types.ts'
import type { EsdbClientLike } from './client.ts'
import { EventStoreDbStore } from './store.ts'

export type { EsdbClientLike } from './client.ts'

export function createEventStoreDbStore(client: EsdbClientLike): EventStore {
  return new EventStoreDbStore(client)
}

export function connectEventStoreDb(connectionString: string): EventStore {
  // Typed as EsdbClientLike so the compiler proves the real client fits the subset.
  const client: EsdbClientLike = EventStoreDBClient.connectionString(connectionString)
  return createEventStoreDbStore(client)
}
