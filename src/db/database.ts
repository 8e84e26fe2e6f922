import { mkdirSync } from 'node:fs'
import { PGlite, types as pgliteTypes } from '@electric-sql/pglite'
import { CompiledQuery, Kysely, PostgresDialect, type Transaction } from 'kysely'
import pg from 'pg'
import { Mutex } from './mutex.ts'
import { PGliteDialect } from './pglite-dialect.ts'

/** Run SQL on whatever connection this is: the pool, or one transaction. */
export interface Sql {
  query<R = Record<string, unknown>>(text: string, params?: readonly unknown[]): Promise<R[]>
  /** The same connection as a Kysely instance, for typed read-model queries. */
  readonly kysely: Kysely<any>
}

export interface Database extends Sql {
  readonly kind: 'postgres' | 'pglite'
  /** Runs `fn` in one transaction; commits when it resolves, rolls back when it throws. */
  transaction<T>(fn: (tx: Sql) => Promise<T>): Promise<T>
  /**
   * Calls `onPayload` for each NOTIFY on `channel`. On PostgreSQL this holds a dedicated
   * session; on PGlite notifications exist only inside this process.
   */
  listen(channel: string, onPayload: (payload: string) => void): Promise<() => Promise<void>>
  notify(channel: string, payload: string): Promise<void>
  close(): Promise<void>
  /** PGlite only: an image of the whole database, for `pgliteImage`. */
  dumpImage?(): Promise<Blob>
}

export interface DatabaseOptions {
  /** postgres://… to use a server; otherwise PGlite. */
  url?: string
  /** PGlite data directory; omit for an in-memory database. */
  dataDir?: string
  /** PGlite only: start from this `dumpDataDir()` image instead of running initdb (tests use it). */
  pgliteImage?: Blob
}

function sqlOn(kysely: Kysely<any> | Transaction<any>): Sql {
  return {
    kysely,
    async query<R>(text: string, params: readonly unknown[] = []) {
      const result = await kysely.executeQuery<R>(CompiledQuery.raw(text, [...params]))
      return result.rows
    },
  }
}

function withTransactions(kind: Database['kind'], kysely: Kysely<any>) {
  return {
    kind,
    ...sqlOn(kysely),
    transaction<T>(fn: (tx: Sql) => Promise<T>) {
      return kysely.transaction().execute((trx) => fn(sqlOn(trx)))
    },
    async notify(channel: string, payload: string) {
      await kysely.executeQuery(CompiledQuery.raw('select pg_notify($1, $2)', [channel, payload]))
    },
  }
}

export async function openDatabase(options: DatabaseOptions = {}): Promise<Database> {
  return options.url ? openPostgres(options.url) : openPGlite(options.dataDir, options.pgliteImage)
}

async function openPostgres(url: string): Promise<Database> {
  const pool = new pg.Pool({ connectionString: url, max: Number(process.env.CAIRN_DB_POOL_SIZE ?? 10) })
  pool.on('error', () => {}) // an idle client's error surfaces on its next use
  const kysely = new Kysely<any>({ dialect: new PostgresDialect({ pool }) })
  const listeners = new Map<string, Set<(payload: string) => void>>()
  let listener: pg.Client | null = null

  async function listenerClient(): Promise<pg.Client> {
    if (listener) return listener
    const client = new pg.Client({ connectionString: url })
    client.on('error', () => {})
    client.on('notification', (msg) => {
      for (const fn of listeners.get(msg.channel) ?? []) fn(msg.payload ?? '')
    })
    await client.connect()
    listener = client
    return client
  }

  return {
    ...withTransactions('postgres', kysely),
    async listen(channel, onPayload) {
      const client = await listenerClient()
      let set = listeners.get(channel)
      if (!set) {
        set = new Set()
        listeners.set(channel, set)
        await client.query(`listen ${pg.escapeIdentifier(channel)}`)
      }
      set.add(onPayload)
      return async () => {
        set.delete(onPayload)
      }
    },
    async close() {
      await listener?.end().catch(() => {})
      await kysely.destroy()
    },
  }
}

async function openPGlite(dataDir?: string, image?: Blob): Promise<Database> {
  if (dataDir) mkdirSync(dataDir, { recursive: true })
  // int8 as strings, as `pg` returns them, so both backends look the same to callers.
  const pglite = await PGlite.create({ dataDir, loadDataDir: image, parsers: { [pgliteTypes.INT8]: (v: string) => v } })
  const mutex = new Mutex()
  const kysely = new Kysely<any>({ dialect: new PGliteDialect(pglite, mutex) })
  return {
    ...withTransactions('pglite', kysely),
    dumpImage: () => mutex.run(() => pglite.dumpDataDir('none')),
    async listen(channel, onPayload) {
      const unlisten = await mutex.run(() => pglite.listen(channel, onPayload))
      return () => mutex.run(() => unlisten())
    },
    async close() {
      await kysely.destroy()
      await mutex.run(() => pglite.close())
    },
  }
}
