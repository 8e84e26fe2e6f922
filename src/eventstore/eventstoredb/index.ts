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

/** `esdb://`, `esdb+discover://`, and KurrentDB's names for them (`kurrentdb://`, `kurrent://`, `kdb://`, each with `+discover`). */
const SCHEME = /^(esdb|kurrentdb|kurrent|kdb)(\+discover)?:\/\//i

export function isEventStoreDbUrl(url: string): boolean {
  return SCHEME.test(url)
}

export function connectEventStoreDb(connectionString: string): EventStore {
  // The 6.x client parses only esdb://; KurrentDB speaks the same protocol under its new names.
  const url = connectionString.replace(SCHEME, (_all, _name: string, discover: string | undefined) => `esdb${discover ?? ''}://`)
  // Typed as EsdbClientLike so the compiler proves the real client fits the subset.
  const client: EsdbClientLike = EventStoreDBClient.connectionString(url)
  return createEventStoreDbStore(client)
}

/** The connection string with its password hidden, for logs. */
export function describeEventStoreDbUrl(url: string): string {
  return url.replace(/\/\/([^:@/]*):[^@/]*@/, '//$1:…@')
}
