import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Database } from '../db/database.ts'

/**
 * The key that encrypts provider API keys at rest: `CAIRN_SECRET_KEY` (any string; hashed to
 * 32 bytes), else a random key file created once in the data dir with mode 0600.
 */
export function loadSecretKey(dataDir: string, env: NodeJS.ProcessEnv = process.env): Buffer {
  if (env.CAIRN_SECRET_KEY) return createHash('sha256').update(env.CAIRN_SECRET_KEY).digest()
  const file = join(dataDir, 'secret.key')
  if (!existsSync(file)) {
    mkdirSync(dataDir, { recursive: true })
    writeFileSync(file, randomBytes(32).toString('base64'), { mode: 0o600, flag: 'wx' })
  }
  return Buffer.from(readFileSync(file, 'utf8').trim(), 'base64')
}

/** First 8 hex characters of the key's SHA-256: enough to tell keys apart, useless to an attacker. */
export const secretFingerprint = (secret: string) => createHash('sha256').update(secret).digest('hex').slice(0, 8)

/** Provider API keys, AES-256-GCM encrypted, in a table outside the event log. */
export class SecretStore {
  constructor(
    private readonly db: Database,
    private readonly key: Buffer,
  ) {}

  async put(name: string, secret: string): Promise<string> {
    const iv = randomBytes(12)
    const cipher = createCipheriv('aes-256-gcm', this.key, iv)
    const ciphertext = Buffer.concat([cipher.update(secret, 'utf8'), cipher.final()])
    const sealed = Buffer.concat([iv, cipher.getAuthTag(), ciphertext]).toString('base64')
    const fingerprint = secretFingerprint(secret)
    await this.db.query(
      `insert into secrets (name, sealed, fingerprint, updated_at) values ($1, $2, $3, now())
       on conflict (name) do update set sealed = excluded.sealed, fingerprint = excluded.fingerprint, updated_at = now()`,
      [name, sealed, fingerprint],
    )
    return fingerprint
  }

  /** Forgets every secret whose name starts with `prefix` (a removed MCP server's). */
  async removeByPrefix(prefix: string): Promise<void> {
    await this.db.query(`delete from secrets where starts_with(name, $1)`, [prefix])
  }

  async get(name: string): Promise<string | null> {
    const rows = await this.db.query<{ sealed: string }>('select sealed from secrets where name = $1', [name])
    if (!rows[0]) return null
    const raw = Buffer.from(rows[0].sealed, 'base64')
    const decipher = createDecipheriv('aes-256-gcm', this.key, raw.subarray(0, 12))
    decipher.setAuthTag(raw.subarray(12, 28))
    return Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString('utf8')
  }
}
