// forkChat answers from the stored ChatForked without waiting for the read models; reads after it
// still see the fork — in the same server (its user's requests wait for the pending write; other
// users' do not) and in another one sharing the database (a read by id that finds the chat in the
// log but not in the read model waits for the read model). The chats projection is held back for
// the test by a transaction that locks its checkpoint row (which also holds the log's visibility
// horizon back, as any long transaction on the server does).
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { openDatabase, type Database } from '../../src/db/database.ts'
import { migrate } from '../../src/db/migrate.ts'
import { createFreshPostgresDatabase, postgresAvailable } from '../support/databases.ts'
import { startApiServer, type ApiServer } from './harness.ts'

const FIELDS = `id ownerId title status modelId planMode queueLength revision forkOf { chatId revision } createdAt updatedAt
  usage { inputTokens costUsd } openToolCalls { callId } queue { queueId }`

describe.skipIf(!postgresAvailable)('a fork answered before the read models have it (PostgreSQL, two servers)', () => {
  let fresh: { url: string; drop(): Promise<void> }
  const dbs: Database[] = []
  let a: ApiServer
  let b: ApiServer
  beforeAll(async () => {
    fresh = await createFreshPostgresDatabase()
    for (let i = 0; i < 2; i++) dbs.push(await openDatabase({ url: fresh.url }))
    await migrate(dbs[0]!)
    a = await startApiServer(dbs[0]!)
    b = await startApiServer(dbs[1]!)
  })
  afterAll(async () => {
    await a?.close()
    await b?.close()
    for (const db of dbs) await db.close()
    await fresh?.drop()
  })

  it('is read right after by its own server and by the other one, as it was answered', async () => {
    const alice = (await a.user('alice@example.com', 'member')).token
    const bob = (await a.user('bob@example.com', 'member')).token
    const chat = (await a.gql('mutation { createChat(input: { title: "source", firstMessage: "hello" }) { id } }', {}, alice)).body.data.createChat

    const lock = new pg.Client({ connectionString: fresh.url })
    await lock.connect()
    try {
      await lock.query('begin')
      await lock.query("select checkpoint from projection_checkpoints where name = 'chats' for update")
      const forked = await a.gql(`mutation($id: ID!) { forkChat(chatId: $id, atRevision: 1) { ${FIELDS} } }`, { id: chat.id }, alice)
      expect(forked.body.errors).toBeUndefined()
      const answer = forked.body.data.forkChat
      expect(answer).toMatchObject({ title: 'source (fork)', status: 'WAITING', revision: 2, forkOf: { chatId: chat.id, revision: 1 } })
      const [projected] = (await lock.query('select count(*)::int as n from chats where id = $1', [answer.id])).rows
      expect(projected.n).toBe(0) // answered while the read model did not have it

      const settled: string[] = []
      const read = (server: ApiServer, name: string, query: string, variables: Record<string, unknown>, token = alice) =>
        server.gql(query, variables, token).then((res) => (settled.push(name), res.body))
      const byIdHere = read(a, 'a: chat', `query($id: ID!) { chat(id: $id) { ${FIELDS} } }`, { id: answer.id })
      const listHere = read(a, 'a: chats', 'query($c: ID!) { chats(filter: { forkOf: $c }) { nodes { id } } }', { c: chat.id })
      const byIdThere = read(b, 'b: chat', `query($id: ID!) { chat(id: $id) { ${FIELDS} } }`, { id: answer.id })
      // Another user's request does not wait for alice's write.
      expect((await read(a, 'a: bob', '{ me { email } }', {}, bob)).data.me).toEqual({ email: 'bob@example.com' })
      await new Promise((resolve) => setTimeout(resolve, 300))
      expect(settled).toEqual(['a: bob']) // alice's three wait for the read model
      await lock.query('commit')

      expect((await byIdHere).data.chat).toEqual(answer)
      expect((await listHere).data.chats.nodes).toEqual([{ id: answer.id }])
      expect((await byIdThere).data.chat).toEqual(answer)
    } finally {
      await lock.end()
    }
  })
})
