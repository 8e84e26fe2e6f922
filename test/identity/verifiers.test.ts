// The proof verifiers alone, against certificates and keys made here (no server).
import { X509Certificate } from 'node:crypto'
import { beforeAll, describe, expect, it } from 'vitest'
import { verifyAwsIdentity } from '../../src/workspaces/identity/aws.ts'
import { verifyAzureIdentity } from '../../src/workspaces/identity/azure.ts'
import { googleKeysFromJwks, verifyGoogleIdentity } from '../../src/workspaces/identity/google.ts'
import { dsaSignedAwsProof, googleClaims, issueCertificate, makeCloudIdentities, untrustedRsaKey, type CloudIdentities } from '../fakes/cloud-identity.ts'

let ids: CloudIdentities
const x509 = (pem: string) => new X509Certificate(pem)

beforeAll(async () => {
  ids = await makeCloudIdentities()
}, 60_000)

describe('AWS instance identity documents', () => {
  it('accepts a detached PKCS#7 signature by the pinned certificate and reads the instance id', async () => {
    const proof = await ids.awsProof('i-0123456789abcdef0')
    expect(verifyAwsIdentity(proof, [x509(ids.aws.pem)])).toEqual({ instanceId: 'i-0123456789abcdef0', region: 'us-east-1' })
  })

  it('accepts the DSA (SHA-1) signature EC2 puts on /pkcs7, and rejects it against another pinned certificate', async () => {
    const proof = await dsaSignedAwsProof('i-0dsa')
    expect(verifyAwsIdentity(proof, [x509(ids.aws.pem), x509(proof.pem)])).toEqual({ instanceId: 'i-0dsa', region: 'us-east-1' })
    expect(() => verifyAwsIdentity(proof, [x509(ids.aws.pem)])).toThrow(/forged or foreign/)
  })

  it('rejects a document edited after signing', async () => {
    const proof = await ids.awsProof('i-0123456789abcdef0')
    const document = proof.document.replace('i-0123456789abcdef0', 'i-0fffffffffffffff0')
    expect(() => verifyAwsIdentity({ ...proof, document }, [x509(ids.aws.pem)])).toThrow(/message digest differs/)
  })

  it('rejects a signature by a certificate the admin did not pin', async () => {
    const stranger = await issueCertificate('ec2.amazonaws.com')
    const proof = await ids.awsProof('i-1', stranger)
    expect(() => verifyAwsIdentity(proof, [x509(ids.aws.pem)])).toThrow(/forged or foreign/)
  })

  it('says what is wrong with garbage', () => {
    expect(() => verifyAwsIdentity({ signature: 'not base64!', document: '{}' }, [x509(ids.aws.pem)])).toThrow(/not base64/)
    expect(() => verifyAwsIdentity({ signature: 'AAAA', document: '{}' }, [x509(ids.aws.pem)])).toThrow(/not valid PKCS#7/)
    expect(() => verifyAwsIdentity({ signature: 'AAAA', document: '{}' }, [])).toThrow(/not configured/)
  })
})

describe('Azure attested data', () => {
  it('accepts data signed by metadata.azure.com through the carried intermediate to the trusted root', async () => {
    const proof = await ids.azureProof('9b6ea1f2-1234-4c1d-9e8f-00aa11bb22cc')
    expect(verifyAzureIdentity(proof, [x509(ids.azureRoot.pem)])).toEqual({ instanceId: '9b6ea1f2-1234-4c1d-9e8f-00aa11bb22cc' })
  })

  it('rejects a self-made chain, a foreign signer name and expired data', async () => {
    const otherRoot = await issueCertificate('Evil Root', { ca: true })
    const evil = await issueCertificate('metadata.azure.com', { issuer: otherRoot })
    await expect(ids.azureProof('vm', { signer: evil }).then((p) => verifyAzureIdentity(p, [x509(ids.azureRoot.pem)]))).rejects.toThrow(/does not chain/)
    const wrongName = await issueCertificate('metadata.example.com', { issuer: ids.azureIntermediate })
    await expect(ids.azureProof('vm', { signer: wrongName }).then((p) => verifyAzureIdentity(p, [x509(ids.azureRoot.pem)]))).rejects.toThrow(/not by an Azure metadata certificate/)
    await expect(ids.azureProof('vm', { expired: true }).then((p) => verifyAzureIdentity(p, [x509(ids.azureRoot.pem)]))).rejects.toThrow(/expired/)
  })

  it('rejects a signer certificate outside its validity', async () => {
    const old = await issueCertificate('metadata.azure.com', { issuer: ids.azureIntermediate, notBefore: new Date(Date.now() - 10 * 86_400_000), notAfter: new Date(Date.now() - 86_400_000) })
    await expect(ids.azureProof('vm', { signer: old }).then((p) => verifyAzureIdentity(p, [x509(ids.azureRoot.pem)]))).rejects.toThrow(/not valid now/)
  })
})

describe('Google identity tokens', () => {
  const keys = () => googleKeysFromJwks(ids.google.jwks as never)
  it('accepts a token for our audience and reads google.compute_engine.instance_id', () => {
    expect(verifyGoogleIdentity(ids.googleProof('1234567890', 'https://cairn.example'), keys(), 'https://cairn.example')).toEqual({ instanceId: '1234567890' })
  })
  it('rejects forged, expired, wrong-audience and format=standard tokens', () => {
    const forged = ids.google.sign(googleClaims('1', 'a'), { key: untrustedRsaKey() })
    expect(() => verifyGoogleIdentity(forged, keys(), 'a')).toThrow(/forged/)
    expect(() => verifyGoogleIdentity(ids.googleProof('1', 'a', { expiresInS: -600 }), keys(), 'a')).toThrow(/expired/)
    expect(() => verifyGoogleIdentity(ids.googleProof('1', 'b'), keys(), 'a')).toThrow(/wrong audience "b"/)
    const standard = googleClaims('1', 'a')
    delete standard.google
    expect(() => verifyGoogleIdentity(ids.google.sign(standard), keys(), 'a')).toThrow(/format=full/)
  })
})
