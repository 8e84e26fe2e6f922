import { generateKeyPairSync, randomUUID } from 'node:crypto'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { anchorLog, headOfLog, verifyAnchors } from '../../src/audit/anchor.ts'
import { streamsOfChain, verifyChains } from '../../src/audit/verify.ts'
import { canonicalJson, eventHash } from '../../src/eventstore/hash.ts'
import type { Database } from '../../src/db/database.ts'
import type { EventStore, NewEvent } from '../../src/eventstore/types.ts'
import { createSqlEventStore } from '../../src/eventstore/postgres/index.ts'
import { backends } from '../support/databases.ts'

const event = (n: number): NewEvent => ({
  id: randomUUID(),
  type: 'Noted',
  data: { n, text: `event ${n}` },
  metadata: { actor: { kind: 'system', id: 'test' } },
})

async function appendMany(store: EventStore, stream: string, count: number) {
  let checkpoint = ''
  for (let i = 0; i < count; i++) checkpoint = (await store.appendToStream(stream, [event(i)])).checkpoint
  await visible(store, checkpoint)
}

/** Waits until log readers see `checkpoint` (an append's wake-up NOTIFY holds back the snapshot briefly). */
async function visible(store: EventStore, checkpoint: string) {
  while ((await headOfLog(db)) < checkpoint) await new Promise((r) => setTimeout(r, 10))
}

let db: Database

for (const backend of backends) {
  describe.skipIf(!backend.available)(`verifying the log on ${backend.name}`, () => {
    let store: EventStore
    let close: () => Promise<void>

    beforeEach(async () => {
      const opened = await backend.open()
      db = opened.db
      store = createSqlEventStore(db)
      close = async () => {
        await store.close()
        await opened.close()
      }
      await appendMany(store, 'chat-a', 5)
      await appendMany(store, 'chat-b', 3)
      await visible(store, (await store.appendToStream('chat-fork', [event(100), event(101)], { forkOf: { stream: 'chat-a', revision: 2n } })).checkpoint)
    }, 180_000) // the first PGlite database of a process runs initdb: slow on a loaded machine
    afterEach(() => close())

    it('passes a clean log and counts every stream and event', async () => {
      const result = await verifyChains(db)
      expect(result.broken).toEqual([])
      expect(result).toMatchObject({ ok: true, streams: 3, events: 10 })
    })

    it('finds a row edited by hand, every time, and names stream, revision and both hashes', async () => {
      for (const revision of [0, 2, 4]) {
        await db.query(`update events set data = jsonb_set(data, '{text}', '"edited"') where stream = 'chat-a' and revision = $1`, [revision])
        const result = await verifyChains(db)
        expect(result.ok).toBe(false)
        expect(result.broken).toHaveLength(1)
        const [bad] = result.broken
        expect(bad).toMatchObject({ stream: 'chat-a', kind: 'hash_mismatch', revision: BigInt(revision) })
        expect(bad!.expected).toMatch(/^[0-9a-f]{64}$/)
        expect(bad!.expected).not.toBe(bad!.stored)
        await db.query(`update events set data = jsonb_set(data, '{text}', $2::jsonb) where stream = 'chat-a' and revision = $1`, [revision, JSON.stringify(`event ${revision}`)])
        expect((await verifyChains(db)).ok).toBe(true)
      }
    })

    it('re-hashes from the JSON text the database writes: keys reordered, escapes, numbers, unicode; an edit deep inside is caught', async () => {
      const data = JSON.parse(
        JSON.stringify({ b: 1, a: [{ z: 1, y: { '10': 'ten', '9': 'nine', é: 'ü😀\u2028' } }, {}, []], text: 'line\n"quoted" \\ \u0001\t', n: 1e21, small: 1e-7, f: 0.1 + 0.2, big: 123456789012345680000, t: true, nil: null }).replace('{"b"', '{"__proto__":{"k":"own"},"b"'),
      )
      await visible(store, (await store.appendToStream('chat-tricky', [{ ...event(0), data }, event(1)])).checkpoint)
      expect(await verifyChains(db, { streams: ['chat-tricky'] })).toMatchObject({ ok: true, events: 2 })
      for (const [path, value] of [['{a,0,y,é}', '"ü😀\u2029"'], ['{text}', '"line\\n\\"quoted\\" \\\\ \\u0002\\t"'], ['{small}', '1e-8'], ['{__proto__,k}', '"own!"']]) {
        await db.query(`update events set data = jsonb_set(data, $1::text[], $2::jsonb) where stream = 'chat-tricky' and revision = 0`, [path, value])
        expect((await verifyChains(db, { streams: ['chat-tricky'] })).broken, path).toEqual([expect.objectContaining({ stream: 'chat-tricky', kind: 'hash_mismatch', revision: 0n })])
        await db.query(`update events set data = $1::jsonb where stream = 'chat-tricky' and revision = 0`, [JSON.stringify(data)])
        expect((await verifyChains(db, { streams: ['chat-tricky'] })).ok).toBe(true)
      }
    })

    it('verifies streams longer than ten events in revision order, not text order, and finds a gap in them', async () => {
      await appendMany(store, 'chat-long', 25)
      const { privateKey, publicKey } = generateKeyPairSync('ed25519')
      await anchorLog(db, store, privateKey)
      expect(await verifyChains(db)).toMatchObject({ ok: true, streams: 5, events: 36 }) // log-anchors included
      expect((await verifyAnchors(db, publicKey)).ok).toBe(true)
      await db.query(`delete from events where stream = 'chat-long' and revision = 12`)
      expect((await verifyChains(db)).broken).toEqual([expect.objectContaining({ stream: 'chat-long', kind: 'missing_event', revision: 12n })])
      expect((await verifyAnchors(db, publicKey)).ok).toBe(false)
    })

    it('finds a deleted tail by the head the stream records', async () => {
      await db.query(`delete from events where stream = 'chat-b' and revision = 2`)
      const result = await verifyChains(db)
      expect(result.broken).toEqual([expect.objectContaining({ stream: 'chat-b', kind: 'missing_event', revision: 2n })])
    })

    it('finds a stream whose events were all deleted', async () => {
      await db.query(`delete from events where stream = 'chat-b'`)
      const result = await verifyChains(db)
      expect(result.broken).toEqual([expect.objectContaining({ stream: 'chat-b', kind: 'missing_event', revision: 0n })])
    })

    it('finds a deleted event in the middle of a stream', async () => {
      await db.query(`delete from events where stream = 'chat-a' and revision = 3`)
      const result = await verifyChains(db)
      expect(result.broken).toEqual([expect.objectContaining({ stream: 'chat-a', kind: 'missing_event', revision: 3n })])
    })

    it('verifying a fork checks the source chain it inherits below the cut', async () => {
      // The source's event under the cut is edited: the source breaks, and so does the chat read as the fork.
      await db.query(`update events set data = jsonb_set(data, '{text}', '"edited"') where stream = 'chat-a' and revision = 1`)
      const forkOnly = await verifyChains(db, { streams: await streamsOfChain(db, 'chat-fork') })
      expect(forkOnly.broken.map((b) => b.stream)).toEqual(['chat-a'])
      expect(forkOnly.streams).toBe(2)
    })

    it('verifies from a position, trusting what came before it', async () => {
      const [row] = await db.query<{ position: string }>(`select position::text as position from events where stream = 'chat-a' and revision = 3`)
      await db.query(`update events set data = jsonb_set(data, '{text}', '"edited"') where stream = 'chat-a' and revision = 1`)
      const later = await verifyChains(db, { fromPosition: BigInt(row!.position) })
      expect(later.ok).toBe(true)
      await db.query(`update events set data = jsonb_set(data, '{text}', '"edited"') where stream = 'chat-a' and revision = 4`)
      const again = await verifyChains(db, { fromPosition: BigInt(row!.position) })
      expect(again.broken).toEqual([expect.objectContaining({ stream: 'chat-a', kind: 'hash_mismatch', revision: 4n })])
    })

    it('an anchor catches a rewrite of a whole chain that every stream check passes', async () => {
      const { privateKey, publicKey } = generateKeyPairSync('ed25519')
      const anchor = await anchorLog(db, store, privateKey)
      expect(anchor.eventCount).toBe(10)
      expect((await verifyAnchors(db, publicKey)).ok).toBe(true)

      // An attacker with database access edits chat-b and recomputes its whole chain and head.
      const rows = await db.query<{ revision: string; id: string; type: string; data: string; metadata: string }>(
        `select revision::text as revision, id::text as id, type, data::text as data, metadata::text as metadata from events where stream = 'chat-b' order by revision`,
      )
      let previous = ''
      for (const r of rows) {
        const data = { ...JSON.parse(r.data), text: 'rewritten' }
        previous = eventHash(previous, { id: r.id, type: r.type, data, metadata: JSON.parse(r.metadata), revision: BigInt(r.revision), stream: 'chat-b' })
        await db.query(`update events set data = $1::jsonb, hash = $2 where stream = 'chat-b' and revision = $3`, [canonicalJson(data), previous, r.revision])
      }
      // Left alone, the head the stream records gives the rewrite away; rewritten too, it does not.
      expect((await verifyChains(db)).broken).toEqual([expect.objectContaining({ stream: 'chat-b', kind: 'head_mismatch', revision: 2n })])
      await db.query(`update streams set hash = $1 where stream = 'chat-b'`, [previous])
      expect((await verifyChains(db)).ok).toBe(true)

      const anchors = await verifyAnchors(db, publicKey)
      expect(anchors.ok).toBe(false)
      expect(anchors.anchors[0]!.message).toMatch(/no longer matches the signed root/)
    })

    it('an anchor signed by another key, or altered, does not verify', async () => {
      const { privateKey } = generateKeyPairSync('ed25519')
      const other = generateKeyPairSync('ed25519')
      await anchorLog(db, store, privateKey)
      const result = await verifyAnchors(db, other.publicKey)
      expect(result.ok).toBe(false)
      expect(result.anchors[0]!.message).toMatch(/signature does not verify/)
      expect((await verifyAnchors(db, null)).anchors[0]!.message).toMatch(/CAIRN_ANCHOR_PUBLIC_KEY/)
    })

    it('later anchors cover earlier ones, each checked against its own prefix', async () => {
      const { privateKey, publicKey } = generateKeyPairSync('ed25519')
      await anchorLog(db, store, privateKey)
      await appendMany(store, 'chat-c', 4)
      const second = await anchorLog(db, store, privateKey)
      expect(second.eventCount).toBe(15)
      const result = await verifyAnchors(db, publicKey)
      expect(result.anchors.map((a) => a.ok)).toEqual([true, true])
      await db.query(`delete from events where stream = 'chat-c'`)
      const after = await verifyAnchors(db, publicKey)
      expect(after.anchors.map((a) => a.ok)).toEqual([true, false])
    })
  })
}
