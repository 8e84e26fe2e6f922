// Azure: the attested data document (`/metadata/attested/document`), a PKCS#7 blob that carries
// its JSON content and the signing certificate. The signer must be a metadata.azure.* certificate
// that chains, inside its validity, to a certificate an admin trusted; the content names the VM.
import { X509Certificate } from 'node:crypto'
import { decodeBase64 } from './aws.ts'
import { InstanceIdentityError } from './errors.ts'
import { certificateMatches, parseSignedData, SignatureError, verifySigner } from './pkcs7.ts'

// The signer common names Azure documents for attested data, in each of its clouds.
const ALLOWED_SIGNER = /^(.*\.)?metadata\.(azure\.(com|us|cn)|microsoftazure\.de)$/
const MAX_CHAIN = 6

export function verifyAzureIdentity(input: { signature: string; encoding?: string | null }, trusted: X509Certificate[], now = new Date()): { instanceId: string } {
  if (trusted.length === 0) throw new InstanceIdentityError('Azure instance identity is not configured on this server (CAIRN_AZURE_IDENTITY_CERTS)')
  if (input.encoding && input.encoding.toLowerCase() !== 'pkcs7') throw new InstanceIdentityError(`unsupported attested data encoding ${JSON.stringify(input.encoding)}; expected pkcs7`)
  try {
    const signed = parseSignedData(decodeBase64(input.signature))
    if (!signed.content) throw new InstanceIdentityError('the attested data carries no content')
    const signer = signed.signers[0]!
    const cert = signed.certificates.find((c) => certificateMatches(c, signer))
    if (!cert) throw new InstanceIdentityError('the attested data does not carry its signing certificate')
    const cn = /(?:^|\n)CN=([^\n]+)/.exec(cert.subject)?.[1] ?? ''
    if (!ALLOWED_SIGNER.test(cn)) throw new InstanceIdentityError(`the attested data is signed by ${JSON.stringify(cn)}, not by an Azure metadata certificate`)
    checkChain(cert, signed.certificates, trusted, now)
    verifySigner(signer, cert, signed.content, signed.contentType)
    return { instanceId: vmIdOf(signed.content, now) }
  } catch (err) {
    if (err instanceof SignatureError) throw new InstanceIdentityError(`invalid Azure attested data: ${err.message}`)
    throw err
  }
}

/** Walks issuer links from the signer to a trusted certificate, each link signed and each certificate in date. */
function checkChain(leaf: X509Certificate, carried: X509Certificate[], trusted: X509Certificate[], now: Date): void {
  let cert = leaf
  for (let depth = 0; depth < MAX_CHAIN; depth++) {
    inDate(cert, now)
    if (trusted.some((t) => t.fingerprint256 === cert.fingerprint256)) return
    const trustedIssuer = trusted.find((t) => cert.checkIssued(t) && cert.verify(t.publicKey))
    if (trustedIssuer) return inDate(trustedIssuer, now)
    const next = carried.find((c) => c !== cert && c.ca && cert.checkIssued(c) && cert.verify(c.publicKey))
    if (!next) throw new InstanceIdentityError(`the signing certificate (${cert.subject.replace(/\n/g, ', ')}) does not chain to a trusted certificate`)
    cert = next
  }
  throw new InstanceIdentityError('the certificate chain is too long')
}

function inDate(cert: X509Certificate, now: Date): void {
  if (now < new Date(cert.validFrom) || now > new Date(cert.validTo))
    throw new InstanceIdentityError(`the certificate ${cert.subject.replace(/\n/g, ', ')} is not valid now (valid ${cert.validFrom} to ${cert.validTo})`)
}

function vmIdOf(content: Buffer, now: Date): string {
  let doc: { vmId?: unknown; timeStamp?: { expiresOn?: unknown } }
  try {
    doc = JSON.parse(content.toString('utf8')) as typeof doc
  } catch {
    throw new InstanceIdentityError('the attested data content is not JSON')
  }
  if (typeof doc.vmId !== 'string' || !doc.vmId) throw new InstanceIdentityError('the attested data has no vmId')
  const expiresOn = typeof doc.timeStamp?.expiresOn === 'string' ? parseAzureTime(doc.timeStamp.expiresOn) : null
  if (expiresOn && expiresOn < now) throw new InstanceIdentityError(`the attested data expired at ${expiresOn.toISOString()}`)
  return doc.vmId
}

/** Azure writes "MM/DD/YY HH:mm:ss -0000". */
function parseAzureTime(text: string): Date | null {
  const m = /^(\d{2})\/(\d{2})\/(\d{2}) (\d{2}):(\d{2}):(\d{2}) ([+-])(\d{2})(\d{2})$/.exec(text.trim())
  if (!m) return null
  const [, mo, d, y, h, mi, s, sign, oh, om] = m
  const utc = Date.UTC(2000 + Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s))
  const offset = (Number(oh) * 60 + Number(om)) * 60_000 * (sign === '-' ? -1 : 1)
  return new Date(utc - offset)
}
