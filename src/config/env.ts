import { resolve } from 'node:path'
import { isEventStoreDbUrl } from '../eventstore/eventstoredb/index.ts'
import type { InstanceIdentityConfig } from '../workspaces/identity/trust.ts'

/** Everything the server reads from its environment, parsed once. */
export interface CairnEnv {
  /** postgres://… for a PostgreSQL server; absent means embedded PGlite under `dataDir`. */
  databaseUrl: string | undefined
  /**
   * esdb://… or kurrentdb://… to keep the event log in EventStoreDB/KurrentDB; the read models stay
   * in the database above. Absent: the log is the database's `events` table.
   */
  eventStoreUrl?: string
  /** Absolute path; PGlite keeps its data in `<dataDir>/pgdata`. */
  dataDir: string
  port: number
  host: string
  /** CAIRN_RUNNER=off makes an API-only process: it serves GraphQL but runs no turns. */
  runner: boolean
  /** Trust anchors for workspace agents that authenticate by cloud instance identity. */
  instanceIdentity?: InstanceIdentityConfig
  /** CAIRN_STREAM_SILENCE_SECONDS: a provider stream silent this long is abandoned and retried (default 120 s). */
  streamSilenceMs?: number
}

export class InvalidEnvError extends Error {
  readonly code = 'INVALID_ENV'
  constructor(message: string) {
    super(message)
    this.name = 'InvalidEnvError'
  }
}

export function loadEnv(source: Record<string, string | undefined> = process.env): CairnEnv {
  const databaseUrl = source.DATABASE_URL?.trim() || undefined
  if (databaseUrl && !/^postgres(ql)?:\/\//.test(databaseUrl)) {
    throw new InvalidEnvError(`DATABASE_URL must start with postgres:// or postgresql://; got ${databaseUrl.split('://')[0]}://…`)
  }
  const eventStoreUrl = source.EVENTSTORE_URL?.trim() || undefined
  if (eventStoreUrl && !isEventStoreDbUrl(eventStoreUrl)) {
    throw new InvalidEnvError(`EVENTSTORE_URL must start with esdb://, esdb+discover://, kurrentdb:// or kurrentdb+discover://; got ${eventStoreUrl.split('://')[0]}://…`)
  }
  const portText = source.PORT?.trim() || '8080'
  const port = Number(portText)
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new InvalidEnvError(`PORT must be an integer from 0 to 65535; got ${JSON.stringify(portText)}`)
  }
  const silenceText = source.CAIRN_STREAM_SILENCE_SECONDS?.trim()
  const silence = silenceText ? Number(silenceText) : undefined
  if (silence !== undefined && !(silence > 0)) {
    throw new InvalidEnvError(`CAIRN_STREAM_SILENCE_SECONDS must be a positive number of seconds; got ${JSON.stringify(silenceText)}`)
  }
  return {
    databaseUrl,
    eventStoreUrl,
    dataDir: resolve(source.CAIRN_DATA_DIR?.trim() || './.cairn'),
    port,
    host: source.HOST?.trim() || '0.0.0.0',
    runner: source.CAIRN_RUNNER?.trim().toLowerCase() !== 'off',
    instanceIdentity: {
      awsCertsFile: source.CAIRN_AWS_IDENTITY_CERTS?.trim() || undefined,
      azureCertsFile: source.CAIRN_AZURE_IDENTITY_CERTS?.trim() || undefined,
      googleJwksFile: source.CAIRN_GOOGLE_IDENTITY_JWKS?.trim() || undefined,
      googleAudience: source.CAIRN_GOOGLE_IDENTITY_AUDIENCE?.trim() || undefined,
    },
    ...(silence !== undefined ? { streamSilenceMs: silence * 1000 } : {}),
  }
}
