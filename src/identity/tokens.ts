import { createHash, randomBytes } from 'node:crypto'

/** Every API token starts with this, so a leaked one is easy to spot and grep for. */
export const TOKEN_PREFIX = 'cairn_'

/** A new token: 32 random bytes. Shown once; only its hash is stored (in an `ApiTokenIssued` event). */
export function generateToken(): string {
  return TOKEN_PREFIX + randomBytes(32).toString('base64url')
}

export function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex')
}

/** The token of an `Authorization: Bearer …` value, or null when it is not one. */
export function bearerToken(header: unknown): string | null {
  if (typeof header !== 'string') return null
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header)
  return match ? match[1]! : null
}

/** A UUID derived from text (name-based, like v5), so the same input always names the same stream. */
export function uuidFromText(text: string): string {
  const h = createHash('sha256').update(text).digest('hex')
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-${((parseInt(h[16]!, 16) & 3) | 8).toString(16)}${h.slice(17, 20)}-${h.slice(20, 32)}`
}
