// Verifies a PKCS#7 / CMS SignedData (RFC 2315 / RFC 5652) with node's crypto: the signer's
// signature over the content (through the signed attributes when present). Which
// certificates to trust is the caller's business (aws.ts pins keys, azure.ts checks a chain).
import { createHash, verify as verifySignature, X509Certificate } from 'node:crypto'
import { Asn1Error, asSet, contextTag, expectTag, octetsOf, oidOf, parseDer, TAG, type Asn1 } from './der.ts'

const OID = {
  signedData: '1.2.840.113549.1.7.2',
  contentType: '1.2.840.113549.1.9.3',
  messageDigest: '1.2.840.113549.1.9.4',
  rsaPss: '1.2.840.113549.1.1.10',
}

const DIGESTS: Record<string, string> = {
  '1.3.14.3.2.26': 'sha1',
  '2.16.840.1.101.3.4.2.1': 'sha256',
  '2.16.840.1.101.3.4.2.2': 'sha384',
  '2.16.840.1.101.3.4.2.3': 'sha512',
}

export class SignatureError extends Error {
  override name = 'SignatureError'
}

export interface SignerInfo {
  /** DER of the signer's issuer Name and its serial number's INTEGER content. */
  issuer: Buffer
  serial: Buffer
  digest: string
  signedAttrs: Asn1 | null
  signature: Buffer
}

export interface SignedData {
  contentType: string
  /** The embedded content; null when the signature is detached. */
  content: Buffer | null
  certificates: X509Certificate[]
  signers: SignerInfo[]
}

/** Parses DER or BER PKCS#7 SignedData; throws SignatureError on anything else. */
export function parseSignedData(der: Buffer): SignedData {
  try {
    const contentInfo = expectTag(parseDer(der), TAG.sequence, 'a ContentInfo sequence')
    if (oidOf(contentInfo.children[0]) !== OID.signedData) throw new SignatureError('the PKCS#7 value is not SignedData')
    const wrapper = expectTag(contentInfo.children[1], contextTag(0), 'SignedData content')
    const sd = expectTag(wrapper.children[0], TAG.sequence, 'a SignedData sequence')
    const [, , encap, ...rest] = sd.children
    const encapSeq = expectTag(encap, TAG.sequence, 'encapsulated content info')
    const contentType = oidOf(encapSeq.children[0])
    const eContent = encapSeq.children[1]
    const content = eContent ? octetsOf(expectTag(eContent, contextTag(0), 'explicit content').children[0]!) : null
    const certificates: X509Certificate[] = []
    let signerSet: Asn1 | undefined
    for (const node of rest) {
      if (node.tag === contextTag(0)) for (const c of node.children) if (c.tag === TAG.sequence) certificates.push(new X509Certificate(c.raw))
      if (node.tag === TAG.set) signerSet = node
    }
    if (!signerSet || signerSet.children.length === 0) throw new SignatureError('the PKCS#7 value has no signer')
    return { contentType, content, certificates, signers: signerSet.children.map(parseSignerInfo) }
  } catch (err) {
    if (err instanceof SignatureError) throw err
    throw new SignatureError(`the signature is not valid PKCS#7: ${(err as Error).message}`)
  }
}

function parseSignerInfo(node: Asn1): SignerInfo {
  const [, sid, digestAlg, ...rest] = expectTag(node, TAG.sequence, 'a SignerInfo').children
  if (!sid || sid.tag !== TAG.sequence) throw new SignatureError('signers named by subject key identifier are not supported; expected issuer and serial number')
  const [issuer, serial] = sid.children
  const digest = DIGESTS[oidOf(expectTag(digestAlg, TAG.sequence, 'a digest algorithm').children[0])]
  if (!digest) throw new SignatureError('the signer uses an unsupported digest algorithm')
  let i = 0
  const signedAttrs = rest[i]?.tag === contextTag(0) ? rest[i++]! : null
  const sigAlg = expectTag(rest[i++], TAG.sequence, 'a signature algorithm')
  if (oidOf(sigAlg.children[0]) === OID.rsaPss) throw new SignatureError('RSA-PSS signatures are not supported')
  const signature = expectTag(rest[i], TAG.octetString, 'the signature value').content
  return { issuer: expectTag(issuer, TAG.sequence, 'an issuer name').raw, serial: expectTag(serial, TAG.integer, 'a serial number').content, digest, signedAttrs, signature }
}

/** Whether `cert` is the one the signer names (issuer and serial number). */
export function certificateMatches(cert: X509Certificate, signer: SignerInfo): boolean {
  const tbs = parseDer(cert.raw).children[0]!
  const fields = tbs.children[0]?.tag === contextTag(0) ? tbs.children.slice(1) : tbs.children
  return fields[0]!.content.equals(signer.serial) && fields[2]!.raw.equals(signer.issuer)
}

/**
 * Checks the signer's signature with `cert`'s public key over `content` (the embedded content, or the
 * detached document). With signed attributes, the message digest attribute must match the content.
 */
export function verifySigner(signer: SignerInfo, cert: X509Certificate, content: Buffer, contentType: string): void {
  let signed = content
  if (signer.signedAttrs) {
    const attrs = new Map<string, Asn1>()
    for (const attr of signer.signedAttrs.children) attrs.set(oidOf(attr.children[0]), attr.children[1]!.children[0]!)
    const digest = attrs.get(OID.messageDigest)
    if (!digest) throw new SignatureError('the signed attributes have no message digest')
    if (!digest.content.equals(createHash(signer.digest).update(content).digest()))
      throw new SignatureError('the signed document does not match its signature (message digest differs)')
    const type = attrs.get(OID.contentType)
    if (type && oidOf(type) !== contentType) throw new SignatureError('the signed content type does not match')
    signed = asSet(signer.signedAttrs)
  }
  let ok = false
  try {
    ok = verifySignature(signer.digest, signed, cert.publicKey, signer.signature)
  } catch (err) {
    throw new SignatureError(`the signature could not be checked: ${(err as Error).message}`)
  }
  if (!ok) throw new SignatureError('the signature does not verify against the trusted certificate')
}

export { Asn1Error }
