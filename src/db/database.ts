import { mkdirSync } from 'node:fs'
import { PGlite, types as pgliteTypes } from '@electric-sql/pglite'
import { CompiledQuery, Kysely, PostgresDialect, type Transaction } from 'kysely'
import pg from 'pg'
import { Mutex } from './mutex.ts'
import { PGliteDialect } from './pglite-dialect.ts'
import { Presence } from './presence.ts'

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
   * session, connected again with backoff whenever it is lost (a restart of the server, a
   * terminated backend); once it is back, every listener gets an empty payload, since what was
   * notified meanwhile is lost: read again. On PGlite notifications exist only inside this process.
   */
  listen(channel: string, onPayload: (payload: string) => void): Promise<() => Promise<void>>
  notify(channel: string, payload: string): Promise<void>
  /** PostgreSQL only: who else listens (src/db/presence.ts). On PGlite every NOTIFY is sent. */
  readonly presence?: Presence
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

/** The dedicated LISTEN session's name in `pg_stat_activity`. */
export const LISTENER_APPLICATION_NAME = 'cairn-listen'
const RELISTEN_MIN_MS = 100
const RELISTEN_MAX_MS = 5_000

/**
 * Whether `err` says the database could not be reached or dropped the session (a restart, a
 * terminated backend, a refused connection) rather than refused the statement: worth retrying.
 */
export function isConnectionError(err: unknown): boolean {
  const { code, message } = (err ?? {}) as { code?: unknown; message?: unknown }
  if (typeof code === 'string') {
    // 08: connection exception; 57P01-57P03: admin shutdown, crash shutdown, cannot connect now.
    if (code.startsWith('08') || /^57P0[1-3]$/.test(code)) return true
    if (['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENOTFOUND'].includes(code)) return true
  }
  return typeof message === 'string' && /Connection terminated|encountered a connection error/i.test(message)
}

async function openPostgres(url: string): Promise<Database> {
  const pool = new pg.Pool({ connectionString: url, max: Number(process.env.CAIRN_DB_POOL_SIZE ?? 10) })
  pool.on('error', () => {}) // an idle client's error surfaces on its next use
  // A checked-out client whose connection drops (the server restarts mid-transaction) emits 'error'
  // too, which would end the process: its query fails instead, and the pool drops it on release.
  pool.on('connect', (client) => client.on('error', () => {}))
  const kysely = new Kysely<any>({ dialect: new PostgresDialect({ pool }) })
  const listener = new ListenSession(url)
  const sql = withTransactions('postgres', kysely)
  const listen: Database['listen'] = (channel, onPayload) => listener.listen(channel, onPayload)
  const presence = new Presence({ query: sql.query, listen })
  return {
    ...sql,
    listen,
    presence,
    async close() {
      await presence.stop()
      await listener.close()
      await kysely.destroy()
    },
  }
}

/**
 * One session LISTENs on every channel of a Database. Lost, it is connected again with growing
 * pauses, LISTENs again on each channel, and tells every listener (empty payload) to read again.
 */
class ListenSession {
  readonly #listeners = new Map<string, Set<(payload: string) => void>>()
  #client: pg.Client | null = null
  #connecting: Promise<pg.Client> | null = null
  #retryTimer: NodeJS.Timeout | null = null
  #retryMs = RELISTEN_MIN_MS
  #closed = false

  constructor(private readonly url: string) {}

  async listen(channel: string, onPayload: (payload: string) => void): Promise<() => Promise<void>> {
    let set = this.#listeners.get(channel)
    const fresh = !set
    if (!set) this.#listeners.set(channel, (set = new Set()))
    set.add(onPayload)
    const unlisten = async () => void set.delete(onPayload)
    try {
      const client = await this.#connected()
      if (fresh && client === this.#client) await client.query(`listen ${pg.escapeIdentifier(channel)}`)
    } catch {
      // Down now: the session comes back by itself and listens on every channel then.
      this.#lost(this.#client)
    }
    return unlisten
  }

  async close(): Promise<void> {
    this.#closed = true
    if (this.#retryTimer) clearTimeout(this.#retryTimer)
    const client = this.#client ?? (await this.#connecting?.catch(() => null))
    this.#client = null
    await client?.end().catch(() => {})
  }

  #connected(): Promise<pg.Client> {
    if (this.#client) return Promise.resolve(this.#client)
    this.#connecting ??= this.#connect().finally(() => (this.#connecting = null))
    return this.#connecting
  }

  async #connect(): Promise<pg.Client> {
    const client = new pg.Client({ connectionString: this.url, application_name: LISTENER_APPLICATION_NAME })
    client.on('error', () => this.#lost(client))
    client.on('end', () => this.#lost(client))
    client.on('notification', (msg) => {
      for (const fn of this.#listeners.get(msg.channel) ?? []) fn(msg.payload ?? '')
    })
    try {
      await client.connect()
      for (const channel of this.#listeners.keys()) await client.query(`listen ${pg.escapeIdentifier(channel)}`)
    } catch (err) {
      await client.end().catch(() => {})
      throw err
    }
    if (this.#closed) {
      await client.end().catch(() => {})
      throw new Error('the database is closed')
    }
    this.#client = client
    return client
  }

  /** The session is gone (or never came): connect again after a pause, then wake every listener. */
  #lost(client: pg.Client | null): void {
    if (client && this.#client === client) {
      this.#client = null
      client.end().catch(() => {})
    }
    if (this.#closed || this.#retryTimer || this.#client) return
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = null
      if (this.#closed || this.#client) return
      this.#connected().then(
        () => {
          this.#retryMs = RELISTEN_MIN_MS
          for (const set of this.#listeners.values()) for (const fn of set) fn('')
        },
        () => {
          this.#retryMs = Math.min(this.#retryMs * 2, RELISTEN_MAX_MS)
          this.#lost(null)
        },
      )
    }, this.#retryMs)
    this.#retryTimer.unref()
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
