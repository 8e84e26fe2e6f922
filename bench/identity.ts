// Instance-identity proof verification, per cloud: our verifier (parse PKCS#7 or the JWT, check
// the chain and claims, verify the signature) beside the bare signature check node's crypto
// does on the same bytes, in the same run. The ratio is what parsing and policy cost on top.
import { verify, X509Certificate } from 'node:crypto'
import { verifyAwsIdentity } from '../src/workspaces/identity/aws.ts'
import { verifyAzureIdentity } from '../src/workspaces/identity/azure.ts'
import { googleKeysFromJwks, verifyGoogleIdentity } from '../src/workspaces/identity/google.ts'
import { parseSignedData } from '../src/workspaces/identity/pkcs7.ts'
import { makeCloudIdentities } from '../test/fakes/cloud-identity.ts'
import type { Report } from './report.ts'

const ROUNDS = 2000

function perSecond(run: () => unknown): number {
  for (let i = 0; i < 100; i++) run()
  const start = performance.now()
  for (let i = 0; i < ROUNDS; i++) run()
  return ROUNDS / ((performance.now() - start) / 1000)
}

export async function benchIdentity(report: Report): Promise<void> {
  const ids = await makeCloudIdentities()
  const aws = [new X509Certificate(ids.aws.pem)]
  const azure = [new X509Certificate(ids.azureRoot.pem)]
  const keys = googleKeysFromJwks(ids.google.jwks as never)
  const awsProof = await ids.awsProof('i-0bench')
  const azureProof = await ids.azureProof('vm-bench')
  const jwt = ids.googleProof('1234567890', 'https://cairn.example.com')

  // Baselines: only the RSA signature check over the bytes the proof signs.
  const awsSigned = parseSignedData(Buffer.from(awsProof.signature, 'base64'))
  const awsSigner = awsSigned.signers[0]!
  const awsAttrs = Buffer.concat([Buffer.from([0x31]), awsSigner.signedAttrs!.raw.subarray(1)])
  const azureSigned = parseSignedData(Buffer.from(azureProof.signature, 'base64'))
  const azureSignerCert = azureSigned.certificates[0]!
  const [h, p, s] = jwt.split('.') as [string, string, string]

  report(`${ROUNDS} verifications each, proofs/s (baseline: the bare signature check)`)
  const rows: [string, number, number][] = [
    ['aws', perSecond(() => verifyAwsIdentity(awsProof, aws)), perSecond(() => verify('sha256', awsAttrs, aws[0]!.publicKey, awsSigner.signature))],
    [
      'azure',
      perSecond(() => verifyAzureIdentity(azureProof, azure)),
      perSecond(() => verify('sha256', azureSigned.content!, azureSignerCert.publicKey, azureSigned.signers[0]!.signature)),
    ],
    ['google', perSecond(() => verifyGoogleIdentity(jwt, keys, 'https://cairn.example.com')), perSecond(() => verify('sha256', Buffer.from(`${h}.${p}`), keys.all[0]!, Buffer.from(s, 'base64url')))],
  ]
  for (const [cloud, ours, bare] of rows) {
    report(`  ${cloud.padEnd(7)} ${ours.toFixed(0).padStart(7)}/s   bare signature ${bare.toFixed(0).padStart(7)}/s   ratio ${(ours / bare).toFixed(2)}`)
    report.figure(`${cloud}_verifications_per_s`, ours, bare)
  }
}
