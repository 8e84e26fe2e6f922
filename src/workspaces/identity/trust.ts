// Trust anchors for instance identity, read once from files an admin names; never fetched at request time.
import { X509Certificate } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { googleKeysFromJwks, type GoogleKeys } from './google.ts'

export interface InstanceIdentityConfig {
  /** PEM file(s) of AWS's instance identity signing certificates. */
  awsCertsFile?: string
  /** PEM file of the certificates Azure's attested data chains to (roots or intermediates). */
  azureCertsFile?: string
  /** A JWKS file of Google's signing keys. */
  googleJwksFile?: string
  /** Default: the control plane's URL. */
  googleAudience?: string
}

export interface InstanceIdentityTrust {
  aws: X509Certificate[]
  azure: X509Certificate[]
  google: GoogleKeys | null
  googleAudience: string | undefined
}

export function loadInstanceIdentityTrust(config: InstanceIdentityConfig = {}): InstanceIdentityTrust {
  return {
    aws: config.awsCertsFile ? certificatesIn(config.awsCertsFile, 'CAIRN_AWS_IDENTITY_CERTS') : [],
    azure: config.azureCertsFile ? certificatesIn(config.azureCertsFile, 'CAIRN_AZURE_IDENTITY_CERTS') : [],
    google: config.googleJwksFile ? jwksIn(config.googleJwksFile) : null,
    googleAudience: config.googleAudience,
  }
}

function certificatesIn(file: string, variable: string): X509Certificate[] {
  const text = readFileSync(file, 'utf8')
  const blocks = text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []
  if (blocks.length === 0) throw new Error(`${variable}: ${file} holds no PEM certificate`)
  return blocks.map((pem) => new X509Certificate(pem))
}

function jwksIn(file: string): GoogleKeys {
  let parsed: unknown
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'))
  } catch (err) {
    throw new Error(`CAIRN_GOOGLE_IDENTITY_JWKS: ${file} is not a JWKS JSON file: ${(err as Error).message}`)
  }
  const keys = googleKeysFromJwks(parsed as { keys?: [] })
  if (keys.all.length === 0) throw new Error(`CAIRN_GOOGLE_IDENTITY_JWKS: ${file} holds no RSA key`)
  return keys
}
