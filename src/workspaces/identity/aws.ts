// AWS: the instance identity document and its PKCS#7 signature (the metadata service's
// `/latest/dynamic/instance-identity/pkcs7`, detached or with the document inside), checked
// against the region certificates an admin pinned. AWS publishes these as bare signing
// certificates, not a chain: the pinned key is the trust.
import type { X509Certificate } from 'node:crypto'
import { InstanceIdentityError } from './errors.ts'
import { certificateMatches, parseSignedData, SignatureError, verifySigner } from './pkcs7.ts'

export interface AwsIdentity {
  instanceId: string
  region: string | null
}

export function verifyAwsIdentity(input: { signature: string; document: string }, trusted: X509Certificate[]): AwsIdentity {
  if (trusted.length === 0) throw new InstanceIdentityError('AWS instance identity is not configured on this server (CAIRN_AWS_IDENTITY_CERTS)')
  const document = Buffer.from(input.document, 'utf8')
  try {
    const signed = parseSignedData(decodeBase64(input.signature))
    if (signed.content && !sameDocument(signed.content, document)) throw new InstanceIdentityError('the document is not the one the signature covers')
    const signer = signed.signers[0]!
    // Prefer the certificate the signer names; AWS's own certificates are re-issued with the same key.
    const candidates = [...trusted.filter((c) => certificateMatches(c, signer)), ...trusted.filter((c) => !certificateMatches(c, signer))]
    let lastError: Error | null = null
    for (const cert of candidates) {
      try {
        verifySigner(signer, cert, signed.content ?? document, signed.contentType)
        return identityOf(input.document)
      } catch (err) {
        lastError = err as Error
      }
    }
    throw new InstanceIdentityError(`forged or foreign AWS identity: ${lastError?.message ?? 'no trusted certificate verifies it'}`)
  } catch (err) {
    if (err instanceof SignatureError) throw new InstanceIdentityError(`invalid AWS identity signature: ${err.message}`)
    throw err
  }
}

function identityOf(document: string): AwsIdentity {
  let parsed: { instanceId?: unknown; region?: unknown }
  try {
    parsed = JSON.parse(document) as typeof parsed
  } catch {
    throw new InstanceIdentityError('the AWS identity document is not JSON')
  }
  if (typeof parsed.instanceId !== 'string' || !parsed.instanceId) throw new InstanceIdentityError('the AWS identity document has no instanceId')
  return { instanceId: parsed.instanceId, region: typeof parsed.region === 'string' ? parsed.region : null }
}

/** The metadata service ends lines with \n; a client may trim the trailing newline. */
const sameDocument = (a: Buffer, b: Buffer) => a.toString('utf8').trimEnd() === b.toString('utf8').trimEnd()

export function decodeBase64(text: string): Buffer {
  const compact = text.replace(/-----(BEGIN|END) [A-Z0-9 ]+-----/g, '').replace(/\s+/g, '')
  if (!compact || !/^[A-Za-z0-9+/]+={0,2}$/.test(compact)) throw new InstanceIdentityError('the signature is not base64')
  return Buffer.from(compact, 'base64')
}
