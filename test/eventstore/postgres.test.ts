import { describe } from 'vitest'
import { createSqlEventStore } from '../../src/eventstore/postgres/index.ts'
import { backends } from '../support/databases.ts'
import { eventStoreContract } from './contract.ts'

for (const backend of backends) {
  describe.skipIf(!backend.available)(`SQL event store on ${backend.name}`, () => {
    eventStoreContract(backend.name, async () => {
      const opened = await backend.open()
      const store = createSqlEventStore(opened.db, { pollIntervalMs: 200 })
      return {
        store,
        async close() {
          await store.close()
          await opened.close()
        },
        async tamper(stream, revision) {
          await opened.db.query(
            `update events set data = jsonb_set(data, '{tampered}', 'true') where stream = $1 and revision = $2`,
            [stream, revision.toString()],
          )
        },
      }
    })
  })
}
