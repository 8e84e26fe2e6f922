// Wire-faithful fakes of the clouds' instance identity: our own CA and certificates (pkijs, an
// implementation independent of the server's verifier), AWS-style detached PKCS#7 over an
// identity document, Azure-style attested data (PKCS#7 with its content and signing
// certificate), Google-style RS256 identity JWTs with a JWKS, and a metadata service that
// serves them the way the clouds do (IMDSv2 token, Azure's Metadata header, Metadata-Flavor: Google).
import { createHash, createPrivateKey, generateKeyPairSync, randomUUID, sign as signData, webcrypto, type KeyObject } from 'node:crypto'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as asn1js from 'asn1js'
import * as pkijs from 'pkijs'

const subtle = webcrypto.subtle as unknown as SubtleCrypto
pkijs.setEngine('node-webcrypto', new pkijs.CryptoEngine({ name: 'node-webcrypto', crypto: webcrypto as unknown as Crypto }))

const RSA = { name: 'RSASSA-PKCS1-v1_5', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' }
const DAY = 86_400_000

export interface Issued {
  cert: pkijs.Certificate
  privateKey: CryptoKey
  pem: string
}

let serial = 1000

/** A certificate for `cn`, self-signed (a CA) or issued by `issuer`. */
export async function issueCertificate(cn: string, opts: { issuer?: Issued; ca?: boolean; notBefore?: Date; notAfter?: Date } = {}): Promise<Issued> {
  const keys = (await subtle.generateKey(RSA, true, ['sign', 'verify'])) as CryptoKeyPair
  const cert = new pkijs.Certificate()
  cert.version = 2
  cert.serialNumber = new asn1js.Integer({ value: serial++ })
  const name = (n: string) => new pkijs.AttributeTypeAndValue({ type: '2.5.4.3', value: new asn1js.Utf8String({ value: n }) })
  cert.subject.typesAndValues.push(name(cn))
  if (opts.issuer) cert.issuer = opts.issuer.cert.subject
  else cert.issuer.typesAndValues.push(name(cn))
  cert.notBefore.value = opts.notBefore ?? new Date(Date.now() - DAY)
  cert.notAfter.value = opts.notAfter ?? new Date(Date.now() + 365 * DAY)
  const basic = new pkijs.BasicConstraints({ cA: opts.ca ?? false })
  cert.extensions = [new pkijs.Extension({ extnID: '2.5.29.19', critical: true, extnValue: basic.toSchema().toBER(false), parsedValue: basic })]
  await cert.subjectPublicKeyInfo.importKey(keys.publicKey)
  await cert.sign(opts.issuer?.privateKey ?? keys.privateKey, 'SHA-256')
  const der = Buffer.from(cert.toSchema(true).toBER(false))
  const pem = `-----BEGIN CERTIFICATE-----\n${der.toString('base64').match(/.{1,64}/g)!.join('\n')}\n-----END CERTIFICATE-----\n`
  return { cert, privateKey: keys.privateKey, pem }
}

/** PKCS#7 SignedData over `content`, base64 (the metadata services' text form, without PEM armour). */
export async function signPkcs7(content: Buffer, signer: Issued, opts: { detached: boolean; signedAttributes: boolean; includeCertificate: boolean }): Promise<string> {
  const dataType = '1.2.840.113549.1.7.1'
  const cms = new pkijs.SignedData({
    version: 1,
    encapContentInfo: new pkijs.EncapsulatedContentInfo({
      eContentType: dataType,
      ...(opts.detached ? {} : { eContent: new asn1js.OctetString({ valueHex: content }) }),
    }),
    signerInfos: [
      new pkijs.SignerInfo({
        version: 1,
        sid: new pkijs.IssuerAndSerialNumber({ issuer: signer.cert.issuer, serialNumber: signer.cert.serialNumber }),
      }),
    ],
    ...(opts.includeCertificate ? { certificates: [signer.cert] } : {}),
  })
  if (opts.signedAttributes) {
    const digest = createHash('sha256').update(content).digest()
    cms.signerInfos[0]!.signedAttrs = new pkijs.SignedAndUnsignedAttributes({
      type: 0,
      attributes: [
        new pkijs.Attribute({ type: '1.2.840.113549.1.9.3', values: [new asn1js.ObjectIdentifier({ value: dataType })] }),
        new pkijs.Attribute({ type: '1.2.840.113549.1.9.4', values: [new asn1js.OctetString({ valueHex: digest })] }),
      ],
    })
  }
  await cms.sign(signer.privateKey, 0, 'SHA-256', opts.detached ? new Uint8Array(content) : undefined)
  const info = new pkijs.ContentInfo({ contentType: '1.2.840.113549.1.7.2', content: cms.toSchema(true) })
  return Buffer.from(info.toSchema().toBER(false)).toString('base64')
}

export interface GoogleSigner {
  jwks: { keys: object[] }
  sign(claims: Record<string, unknown>, opts?: { kid?: string; key?: KeyObject }): string
}

export function googleSigner(): GoogleSigner {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
  const kid = randomUUID()
  return {
    jwks: { keys: [{ ...publicKey.export({ format: 'jwk' }), kid, alg: 'RS256', use: 'sig' }] },
    sign(claims, opts = {}) {
      const enc = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url')
      const input = `${enc({ alg: 'RS256', kid: opts.kid ?? kid, typ: 'JWT' })}.${enc(claims)}`
      return `${input}.${signData('sha256', Buffer.from(input), opts.key ?? privateKey).toString('base64url')}`
    },
  }
}

/** Google's `format=full` claims for a Compute Engine instance. */
export function googleClaims(instanceId: string, audience: string, opts: { expiresInS?: number } = {}): Record<string, unknown> {
  const now = Math.floor(Date.now() / 1000)
  return {
    iss: 'https://accounts.google.com',
    aud: audience,
    azp: '1234567890',
    sub: '1234567890',
    iat: now - 5,
    exp: now + (opts.expiresInS ?? 3600),
    google: { compute_engine: { instance_id: instanceId, instance_name: 'vm-1', project_id: 'demo', project_number: 42, zone: 'us-central1-a', instance_creation_timestamp: now - 600 } },
  }
}

export function awsDocument(instanceId: string): string {
  return `${JSON.stringify(
    {
      accountId: '123456789012',
      architecture: 'x86_64',
      availabilityZone: 'us-east-1a',
      imageId: 'ami-0abcdef1234567890',
      instanceId,
      instanceType: 't3.large',
      pendingTime: new Date().toISOString(),
      privateIp: '10.0.0.12',
      region: 'us-east-1',
      version: '2017-09-30',
    },
    null,
    2,
  )}`
}

/** Azure's attested data content; `expiresOn` in Azure's "MM/DD/YY HH:mm:ss -0000" form. */
export function azureAttestedContent(vmId: string, opts: { expired?: boolean } = {}): Buffer {
  const at = (d: Date) => {
    const p = (n: number) => String(n).padStart(2, '0')
    return `${p(d.getUTCMonth() + 1)}/${p(d.getUTCDate())}/${p(d.getUTCFullYear() % 100)} ${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} -0000`
  }
  const created = new Date(Date.now() - (opts.expired ? 2 * DAY : 60_000))
  const expires = new Date(created.getTime() + 6 * 3600_000)
  return Buffer.from(
    JSON.stringify({
      licenseType: '',
      nonce: '20240101-000000',
      plan: { name: '', product: '', publisher: '' },
      sku: '22_04-lts-gen2',
      subscriptionId: randomUUID(),
      timeStamp: { createdOn: at(created), expiresOn: at(expires) },
      vmId,
    }),
  )
}

/** Everything one test run trusts: AWS's signing certificate, Azure's CA chain, Google's keys, as files. */
export interface CloudIdentities {
  aws: Issued
  azureRoot: Issued
  azureIntermediate: Issued
  azureSigner: Issued
  google: GoogleSigner
  files: { awsCerts: string; azureCerts: string; googleJwks: string }
  /** `signature` + `document` for the AWS route. */
  awsProof(instanceId: string, signer?: Issued): Promise<{ signature: string; document: string }>
  azureProof(vmId: string, opts?: { signer?: Issued; expired?: boolean }): Promise<{ signature: string; encoding: string }>
  googleProof(instanceId: string, audience: string, opts?: { expiresInS?: number }): string
}

export async function makeCloudIdentities(): Promise<CloudIdentities> {
  const aws = await issueCertificate('ec2.amazonaws.com', { ca: false })
  const azureRoot = await issueCertificate('Test Azure Root', { ca: true })
  const azureIntermediate = await issueCertificate('Test Azure Issuing CA', { ca: true, issuer: azureRoot })
  const azureSigner = await issueCertificate('metadata.azure.com', { issuer: azureIntermediate })
  const google = googleSigner()
  const dir = mkdtempSync(join(tmpdir(), 'cairn-identity-'))
  const files = { awsCerts: join(dir, 'aws.pem'), azureCerts: join(dir, 'azure.pem'), googleJwks: join(dir, 'google-jwks.json') }
  writeFileSync(files.awsCerts, aws.pem)
  writeFileSync(files.azureCerts, azureRoot.pem)
  writeFileSync(files.googleJwks, JSON.stringify(google.jwks))
  return {
    aws,
    azureRoot,
    azureIntermediate,
    azureSigner,
    google,
    files,
    async awsProof(instanceId, signer = aws) {
      const document = awsDocument(instanceId)
      return { document, signature: await signPkcs7(Buffer.from(document), signer, { detached: true, signedAttributes: true, includeCertificate: false }) }
    },
    async azureProof(vmId, opts = {}) {
      const signer = opts.signer ?? azureSigner
      const content = azureAttestedContent(vmId, { expired: opts.expired })
      const signature = await signPkcs7(content, signer, { detached: false, signedAttributes: false, includeCertificate: true })
      // Azure sends the intermediate along with the signer; splice it in as a second certificate.
      return { encoding: 'pkcs7', signature: await withExtraCertificate(signature, azureIntermediate) }
    },
    googleProof(instanceId, audience, opts = {}) {
      return google.sign(googleClaims(instanceId, audience, opts))
    },
  }
}

async function withExtraCertificate(signatureB64: string, extra: Issued): Promise<string> {
  const info = pkijs.ContentInfo.fromBER(Buffer.from(signatureB64, 'base64'))
  const sd = new pkijs.SignedData({ schema: info.content })
  sd.certificates = [...(sd.certificates ?? []), extra.cert]
  const out = new pkijs.ContentInfo({ contentType: info.contentType, content: sd.toSchema(true) })
  return Buffer.from(out.toSchema().toBER(false)).toString('base64')
}

export type Cloud = 'aws' | 'azure' | 'google'

/**
 * A cloud metadata service on 127.0.0.1, for one instance: AWS (IMDSv2: PUT /latest/api/token, then
 * the token header on /latest/dynamic/instance-identity/{document,pkcs7}), Azure
 * (/metadata/attested/document with `Metadata: true`) and Google
 * (/computeMetadata/v1/instance/service-accounts/default/identity with `Metadata-Flavor: Google`).
 */
export async function startFakeMetadataService(ids: CloudIdentities, instanceId: string): Promise<{ url: string; requests: string[]; close(): Promise<void> }> {
  const imdsTokens = new Set<string>()
  const requests: string[] = []
  // An instance's identity document and its signature stay the same for the instance's life.
  let awsProof: Promise<{ signature: string; document: string }> | null = null
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://metadata')
    requests.push(`${req.method} ${url.pathname}`)
    const send = (status: number, body: string, type = 'text/plain') => {
      res.writeHead(status, { 'content-type': type })
      res.end(body)
    }
    void (async () => {
      if (req.method === 'PUT' && url.pathname === '/latest/api/token') {
        if (!req.headers['x-aws-ec2-metadata-token-ttl-seconds']) return send(400, 'missing x-aws-ec2-metadata-token-ttl-seconds')
        const token = randomUUID()
        imdsTokens.add(token)
        return send(200, token)
      }
      if (url.pathname.startsWith('/latest/')) {
        if (!imdsTokens.has(String(req.headers['x-aws-ec2-metadata-token'] ?? ''))) return send(401, '')
        const proof = await (awsProof ??= ids.awsProof(instanceId))
        if (url.pathname === '/latest/dynamic/instance-identity/document') return send(200, proof.document)
        if (url.pathname === '/latest/dynamic/instance-identity/pkcs7') return send(200, proof.signature.match(/.{1,64}/g)!.join('\n'))
        return send(404, '')
      }
      if (url.pathname === '/metadata/attested/document') {
        if (req.headers.metadata !== 'true') return send(400, JSON.stringify({ error: 'Bad request. Required metadata header not specified' }), 'application/json')
        if (!url.searchParams.get('api-version')) return send(400, JSON.stringify({ error: 'Bad request. api-version was not specified' }), 'application/json')
        return send(200, JSON.stringify(await ids.azureProof(instanceId)), 'application/json')
      }
      if (url.pathname === '/computeMetadata/v1/instance/service-accounts/default/identity') {
        if (req.headers['metadata-flavor'] !== 'Google') return send(403, 'Missing required header: Metadata-Flavor')
        const audience = url.searchParams.get('audience')
        if (!audience) return send(400, 'non-empty audience parameter required')
        const claims = googleClaims(instanceId, audience)
        if (url.searchParams.get('format') !== 'full') delete claims.google
        return send(200, ids.google.sign(claims))
      }
      send(404, 'not found')
    })().catch((err: unknown) => send(500, String(err)))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  }
}

/** A key nobody trusts, for forged JWTs. */
export const untrustedRsaKey = () => createPrivateKey(generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'pem', type: 'pkcs8' }))

/**
 * EC2's `/pkcs7` is signed with DSA (SHA-1), which WebCrypto cannot do: here pkijs builds the
 * structures and node's crypto makes the DSA signatures. Returns the pinned certificate (PEM)
 * and an identity proof signed by it.
 */
export async function dsaSignedAwsProof(instanceId: string): Promise<{ pem: string; document: string; signature: string }> {
  const { privateKey, publicKey } = generateKeyPairSync('dsa', { modulusLength: 1024, divisorLength: 160 })
  const dsaWithSha1 = () => new pkijs.AlgorithmIdentifier({ algorithmId: '1.2.840.10040.4.3' })
  const cert = new pkijs.Certificate()
  cert.version = 0
  cert.serialNumber = new asn1js.Integer({ value: serial++ })
  const name = new pkijs.AttributeTypeAndValue({ type: '2.5.4.3', value: new asn1js.Utf8String({ value: 'ec2.amazonaws.com' }) })
  cert.subject.typesAndValues.push(name)
  cert.issuer.typesAndValues.push(name)
  cert.notBefore.value = new Date(Date.now() - DAY)
  cert.notAfter.value = new Date(Date.now() + 365 * DAY)
  cert.subjectPublicKeyInfo = pkijs.PublicKeyInfo.fromBER(publicKey.export({ type: 'spki', format: 'der' }))
  cert.signature = dsaWithSha1()
  cert.signatureAlgorithm = dsaWithSha1()
  cert.signatureValue = new asn1js.BitString({ valueHex: signData('sha1', Buffer.from(cert.encodeTBS().toBER(false)), privateKey) })
  const certDer = Buffer.from(cert.toSchema(true).toBER(false))
  const pem = `-----BEGIN CERTIFICATE-----\n${certDer.toString('base64').match(/.{1,64}/g)!.join('\n')}\n-----END CERTIFICATE-----\n`

  const document = awsDocument(instanceId)
  const dataType = '1.2.840.113549.1.7.1'
  const signedAttrs = new pkijs.SignedAndUnsignedAttributes({
    type: 0,
    attributes: [
      new pkijs.Attribute({ type: '1.2.840.113549.1.9.3', values: [new asn1js.ObjectIdentifier({ value: dataType })] }),
      new pkijs.Attribute({ type: '1.2.840.113549.1.9.4', values: [new asn1js.OctetString({ valueHex: createHash('sha1').update(document).digest() })] }),
    ],
  })
  const attrs = Buffer.from(signedAttrs.toSchema().toBER(false))
  attrs[0] = 0x31 // signed as a SET, sent as [0]
  const signerInfo = new pkijs.SignerInfo({
    version: 1,
    sid: new pkijs.IssuerAndSerialNumber({ issuer: cert.issuer, serialNumber: cert.serialNumber }),
    digestAlgorithm: new pkijs.AlgorithmIdentifier({ algorithmId: '1.3.14.3.2.26' }),
    signedAttrs,
    signatureAlgorithm: dsaWithSha1(),
    signature: new asn1js.OctetString({ valueHex: signData('sha1', attrs, privateKey) }),
  })
  const sd = new pkijs.SignedData({
    version: 1,
    digestAlgorithms: [new pkijs.AlgorithmIdentifier({ algorithmId: '1.3.14.3.2.26' })],
    encapContentInfo: new pkijs.EncapsulatedContentInfo({ eContentType: dataType }),
    signerInfos: [signerInfo],
  })
  const info = new pkijs.ContentInfo({ contentType: '1.2.840.113549.1.7.2', content: sd.toSchema(true) })
  return { pem, document, signature: Buffer.from(info.toSchema().toBER(false)).toString('base64') }
}
