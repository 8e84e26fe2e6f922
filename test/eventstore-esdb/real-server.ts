/**
 * A real EventStoreDB/KurrentDB for the suites that can run against one: EVENTSTORE_URL, e.g.
 * `esdb://admin:changeit@127.0.0.1:2113?tls=false` (reading `$all` needs admin rights). Point it at a
 * disposable node: the suites write to it. Without it those runs are skipped, and say so.
 */
import { describeEventStoreDbUrl } from '../../src/eventstore/eventstoredb/index.ts'

const url = process.env.EVENTSTORE_URL?.trim() || undefined

export const realEventStoreDb = url ? { url, display: describeEventStoreDbUrl(url) } : undefined

if (!realEventStoreDb) {
  console.warn('\n*** EVENTSTORE_URL not set: the suites against a real EventStoreDB/KurrentDB are SKIPPED (they ran against the fake node) ***\n')
}
