import { describe } from 'vitest'
import { connectEventStoreDb } from '../../src/eventstore/eventstoredb/index.ts'
import { eventStoreContract } from '../eventstore/contract.ts'

// e.g. esdb://admin:changeit@localhost:2113?tls=false — $all reads need admin rights.
const connectionString = process.env.EVENTSTORE_CONNECTION_STRING

if (!connectionString) {
  console.warn('EventStoreDB contract suite skipped: no server configured (set EVENTSTORE_CONNECTION_STRING to run it)')
}

describe.runIf(connectionString)('EventStoreDB event store against a real server', () => {
  eventStoreContract('EventStoreDB', async () => {
    const store = connectEventStoreDb(connectionString!)
    // No `tamper`: an ESDB event cannot be changed in place, so that contract case is skipped here
    // (the adapter tests tamper with the fake's stored bytes instead).
    return { store, close: () => store.close() }
  })
})
