import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { loadEnv } from '../../src/config/env.ts'
import { renderMetrics } from '../../src/metrics.ts'
import { buildApp, createContext, type ServerContext } from '../../src/server.ts'
import { backends } from '../support/databases.ts'
import { createRecorderTable, recorderProjection, tick } from '../projections/recorder.ts'

describe('loadEnv', () => {
  it('applies the defaults', () => {
    const env = loadEnv({})
    expect(env).toEqual({ databaseUrl: undefined, dataDir: expect.stringMatching(/\/\.cairn$/), port: 8080, host: '0.0.0.0', runner: true, instanceIdentity: {} })
  })

  it('reads every variable and rejects a bad PORT or DATABASE_URL with a message to act on', () => {
    expect(
      loadEnv({
        DATABASE_URL: 'postgres://u@h/db',
        CAIRN_DATA_DIR: '/var/cairn',
        PORT: '9000',
        HOST: '127.0.0.1',
        CAIRN_RUNNER: 'off',
        CAIRN_AWS_IDENTITY_CERTS: '/etc/cairn/aws.pem',
        CAIRN_AZURE_IDENTITY_CERTS: '/etc/cairn/azure.pem',
        CAIRN_GOOGLE_IDENTITY_JWKS: '/etc/cairn/google.json',
        CAIRN_GOOGLE_IDENTITY_AUDIENCE: 'https://cairn.example.com',
      }),
    ).toEqual({
      databaseUrl: 'postgres://u@h/db',
      dataDir: '/var/cairn',
      port: 9000,
      host: '127.0.0.1',
      runner: false,
      instanceIdentity: {
        awsCertsFile: '/etc/cairn/aws.pem',
        azureCertsFile: '/etc/cairn/azure.pem',
        googleJwksFile: '/etc/cairn/google.json',
        googleAudience: 'https://cairn.example.com',
      },
    })
    expect(() => loadEnv({ PORT: 'eighty' })).toThrow(/PORT must be an integer from 0 to 65535; got "eighty"/)
    expect(() => loadEnv({ DATABASE_URL: 'mysql://x' })).toThrow(/DATABASE_URL must start with postgres:\/\//)
    expect(loadEnv({ EVENTSTORE_URL: ' kurrentdb+discover://admin:changeit@db:2113 ' }).eventStoreUrl).toBe('kurrentdb+discover://admin:changeit@db:2113')
    expect(() => loadEnv({ EVENTSTORE_URL: 'tcp://admin:changeit@db:1113' })).toThrow(/EVENTSTORE_URL must start with esdb:\/\/, esdb\+discover:\/\/, kurrentdb:\/\/ or kurrentdb\+discover:\/\/; got tcp:\/\/…/)
  })
})

describe('renderMetrics', () => {
  it('writes the Prometheus text format with escaped labels', () => {
    const text = renderMetrics([
      { name: 'x_total', help: 'A counter.', type: 'counter', samples: [{ value: 3 }] },
      { name: 'lag', help: 'Lag.', type: 'gauge', samples: [{ labels: { projection: 'a"b\\c' }, value: 2 }] },
    ])
    expect(text).toBe(
      '# HELP x_total A counter.\n# TYPE x_total counter\nx_total 3\n' +
        '# HELP lag Lag.\n# TYPE lag gauge\nlag{projection="a\\"b\\\\c"} 2\n',
    )
  })
})

const pglite = backends.find((b) => b.name === 'pglite')!

describe('the HTTP app', { timeout: 120_000 }, () => {
  const cleanups: (() => Promise<void>)[] = []
  afterEach(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup()
    cleanups.length = 0
  })

  async function context(): Promise<ServerContext> {
    const { db, close } = await pglite.open()
    await createRecorderTable(db, 'ticks')
    const ctx = createContext({ env: loadEnv({ CAIRN_DATA_DIR: mkdtempSync(join(tmpdir(), 'cairn-ctx-')) }), db, projections: [recorderProjection('ticks')], log: () => {} })
    cleanups.push(async () => {
      await ctx.close()
      await close().catch(() => {})
    })
    return ctx
  }

  it('GET /healthz answers 200 while the database answers and 503 once it does not', async () => {
    const ctx = await context()
    const app = await buildApp(ctx)
    const ok = await app.inject({ method: 'GET', url: '/healthz' })
    expect(ok.statusCode).toBe(200)
    expect(ok.json()).toEqual({ ok: true, database: 'pglite' })

    await ctx.db.close()
    const down = await app.inject({ method: 'GET', url: '/healthz' })
    expect(down.statusCode).toBe(503)
    expect(down.json()).toMatchObject({ ok: false, database: 'pglite' })
    await app.close()
  })

  it('GET /metrics reports projection lag and the events appended through this process', async () => {
    const ctx = await context()
    const app = await buildApp(ctx)
    await ctx.store.appendToStream('tick-1', [tick(1), tick(2)])
    const last = await ctx.store.appendToStream('tick-2', [tick(3)])

    const before = (await app.inject({ method: 'GET', url: '/metrics' })).body
    expect(before).toMatch(/^cairn_projection_lag_events\{projection="recorder_ticks"\} 3$/m)
    expect(before).toMatch(/^cairn_projection_failing\{projection="recorder_ticks"\} 0$/m)
    expect(before).toMatch(/^cairn_events_appended_total 3$/m)

    await ctx.engine.start()
    await ctx.engine.waitForAll(last.checkpoint)
    const after = await app.inject({ method: 'GET', url: '/metrics' })
    expect(after.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/)
    expect(after.body).toMatch(/^cairn_projection_lag_events\{projection="recorder_ticks"\} 0$/m)
    await app.close()
  })
})
