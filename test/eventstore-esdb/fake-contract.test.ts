import { createEventStoreDbStore } from '../../src/eventstore/eventstoredb/index.ts'
import { eventStoreContract } from '../eventstore/contract.ts'
import { FakeEsdbClient } from './fake-client.ts'

// The shared contract, run against the adapter over the wire-faithful fake client.
eventStoreContract('EventStoreDB adapter over the fake client', async () => {
  const fake = new FakeEsdbClient()
  const store = createEventStoreDbStore(fake)
  return {
    store,
    close: () => store.close(),
    async tamper(stream, revision) {
      fake.tamper(stream, revision, (data) => ({ ...(data as object), tampered: true }))
    },
  }
})
