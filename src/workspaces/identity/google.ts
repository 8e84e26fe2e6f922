// Google: the instance identity token (`…/service-accounts/default/identity?audience=A&format=full`),
// an RS256 JWT signed by one of Google's keys. The keys come from a JWKS file an admin configured.
import { createPublicKey, verify as verifySignature, type JsonWebKey, type KeyObject } from 'node:crypto'
import { InstanceIdentityError } from './errors.ts'

const ISSUERS = new Set(['https://accounts.google.com', 'accounts.google.com'])
const CLOCK_SKEW_S = 60

export interface GoogleKeys {
  byKid: Map<string, KeyObject>
  all: KeyObject[]
}

export function googleKeysFromJwks(jwks: { keys?: (JsonWebKey & { kid?: string })[] }): GoogleKeys {
  const byKid = new Map<string, KeyObject>()
  const all: KeyObject[] = []
  for (const jwk of jwks.keys ?? []) {
    if (jwk.kty !== 'RSA') continue
    const key = createPublicKey({ key: jwk, format: 'jwk' })
    all.push(key)
    if (jwk.kid) byKid.set(jwk.kid, key)
  }
  return { byKid, all }
}

export function verifyGoogleIdentity(token: string, keys: GoogleKeys | null, audience: string, now = new Date()): { instanceId: string } {
  if (!keys || keys.all.length === 0) throw new InstanceIdentityError('Google instance identity is not configured on this server (CAIRN_GOOGLE_IDENTITY_JWKS)')
  const parts = token.trim().split('.')
  if (parts.length !== 3) throw new InstanceIdentityError('the identity token is not a JWT')
  const [h, p, s] = parts as [string, string, string]
  const header = jsonPart(h, 'header') as { alg?: unknown; kid?: unknown }
  if (header.alg !== 'RS256') throw new InstanceIdentityError(`the identity token is signed with ${String(header.alg)}; only RS256 is accepted`)
  const candidates = typeof header.kid === 'string' ? [keys.byKid.get(header.kid)].filter((k): k is KeyObject => !!k) : keys.all
  if (candidates.length === 0) throw new InstanceIdentityError(`the identity token is signed by an unknown key (kid ${String(header.kid)})`)
  const signature = Buffer.from(s, 'base64url')
  if (!candidates.some((key) => verifySignature('sha256', Buffer.from(`${h}.${p}`), key, signature)))
    throw new InstanceIdentityError('forged identity token: the signature does not verify')
  const claims = jsonPart(p, 'payload') as {
    iss?: unknown
    aud?: unknown
    exp?: unknown
    iat?: unknown
    google?: { compute_engine?: { instance_id?: unknown } }
  }
  const nowS = now.getTime() / 1000
  if (typeof claims.exp !== 'number' || claims.exp + CLOCK_SKEW_S < nowS)
    throw new InstanceIdentityError(`the identity token expired${typeof claims.exp === 'number' ? ` at ${new Date(claims.exp * 1000).toISOString()}` : ''}`)
  if (typeof claims.iat === 'number' && claims.iat - CLOCK_SKEW_S > nowS) throw new InstanceIdentityError('the identity token was issued in the future')
  if (typeof claims.iss !== 'string' || !ISSUERS.has(claims.iss)) throw new InstanceIdentityError(`the identity token was issued by ${String(claims.iss)}, not Google`)
  const audiences = Array.isArray(claims.aud) ? claims.aud : [claims.aud]
  if (!audiences.includes(audience)) throw new InstanceIdentityError(`wrong audience ${JSON.stringify(claims.aud)}; this server expects ${JSON.stringify(audience)}`)
  const instanceId = claims.google?.compute_engine?.instance_id
  if (typeof instanceId !== 'string' || !instanceId)
    throw new InstanceIdentityError('the identity token has no google.compute_engine.instance_id claim; request it with format=full')
  return { instanceId }
}

function jsonPart(part: string, what: string): unknown {
  try {
    const value = JSON.parse(Buffer.from(part, 'base64url').toString('utf8')) as unknown
    if (typeof value === 'object' && value !== null) return value
  } catch {
    // fall through
  }
  throw new InstanceIdentityError(`the identity token's ${what} is not JSON`)
}
