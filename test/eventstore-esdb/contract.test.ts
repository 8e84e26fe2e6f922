import { connectEventStoreDb } from '../../src/eventstore/eventstoredb/index.ts'
import { eventStoreContract } from '../eventstore/contract.ts'
import { startFakeEventStoreDb } from '../fakes/eventstoredb/server.ts'
import { realEventStoreDb } from './real-server.ts'

// The shared contract, through the real client, over a socket to the fake node.
eventStoreContract('EventStoreDB (real client, fake node over gRPC)', async () => {
  const node = await startFakeEventStoreDb()
  const store = connectEventStoreDb(node.url)
  return {
    store,
    async close() {
      await store.close()
      await node.close()
    },
    async tamper(stream, revision) {
      node.log.tamper(stream, revision, (data) => ({ ...(data as object), tampered: true }))
    },
  }
})

// And against a real node when EVENTSTORE_URL names one. No `tamper` there: an event cannot be
// changed in place, so that case is skipped (the fake node tampers with its stored bytes instead).
if (realEventStoreDb) {
  eventStoreContract(`EventStoreDB at ${realEventStoreDb.display}`, async () => {
    const store = connectEventStoreDb(realEventStoreDb!.url)
    return { store, close: () => store.close() }
  })
}
