// The daemon's side of instance-identity auth: fetch the instance's signed identity from the
// cloud's metadata service and trade it at the control plane for a session token.
import type { AgentAuthKind } from '../events/workspace.ts'

export type CloudAuthKind = Exclude<AgentAuthKind, 'token'>
export const CLOUD_AUTH_KINDS: readonly CloudAuthKind[] = ['aws-instance-identity', 'azure-instance-identity', 'google-instance-identity']

const DEFAULT_METADATA_URL: Record<CloudAuthKind, string> = {
  'aws-instance-identity': 'http://169.254.169.254',
  'azure-instance-identity': 'http://169.254.169.254',
  'google-instance-identity': 'http://metadata.google.internal',
}

export interface InstanceIdentityOptions {
  /** Control plane base URL. */
  url: string
  auth: CloudAuthKind
  /** Sent only when set: picks one of several agents sharing the instance. */
  agentName?: string
  /** The metadata service; default the cloud's own address. */
  metadataUrl?: string
  /** Google only: the token's audience. Default: the control plane URL. */
  audience?: string
  fetch?: typeof fetch
}

/** The server refused for good (409: the agent name is needed; 400: a bad request): retrying cannot help. */
export class AgentAuthRefused extends Error {
  override name = 'AgentAuthRefused'
  constructor(
    readonly status: number,
    message: string,
    readonly agentNames?: string[],
  ) {
    super(message)
  }
}

/** A refusal that may pass: the build has not declared the agent yet, the metadata service is slow. */
export class AgentAuthNotYet extends Error {
  override name = 'AgentAuthNotYet'
}

export async function fetchInstanceProof(opts: InstanceIdentityOptions): Promise<Record<string, string>> {
  const f = opts.fetch ?? fetch
  const base = (opts.metadataUrl ?? DEFAULT_METADATA_URL[opts.auth]).replace(/\/+$/, '')
  const text = async (res: Response, what: string) => {
    if (!res.ok) throw new AgentAuthNotYet(`the metadata service answered ${res.status} for ${what}: ${(await res.text()).slice(0, 200)}`)
    return res.text()
  }
  switch (opts.auth) {
    case 'aws-instance-identity': {
      // IMDSv2: a session token first, then the document and its PKCS#7 signature.
      const token = await text(await f(`${base}/latest/api/token`, { method: 'PUT', headers: { 'x-aws-ec2-metadata-token-ttl-seconds': '300' } }), 'the IMDSv2 token')
      const headers = { 'x-aws-ec2-metadata-token': token }
      const document = await text(await f(`${base}/latest/dynamic/instance-identity/document`, { headers }), 'the identity document')
      const signature = await text(await f(`${base}/latest/dynamic/instance-identity/pkcs7`, { headers }), 'the identity signature')
      return { document, signature }
    }
    case 'azure-instance-identity': {
      const body = await text(await f(`${base}/metadata/attested/document?api-version=2020-09-01`, { headers: { metadata: 'true' } }), 'the attested document')
      const parsed = JSON.parse(body) as { signature?: string; encoding?: string }
      if (!parsed.signature) throw new AgentAuthNotYet('the attested document has no signature')
      return { signature: parsed.signature, ...(parsed.encoding ? { encoding: parsed.encoding } : {}) }
    }
    case 'google-instance-identity': {
      const audience = opts.audience ?? opts.url
      const q = `audience=${encodeURIComponent(audience)}&format=full`
      const jwt = await text(await f(`${base}/computeMetadata/v1/instance/service-accounts/default/identity?${q}`, { headers: { 'metadata-flavor': 'Google' } }), 'the identity token')
      return { json_web_token: jwt.trim() }
    }
  }
}

/** One exchange: proof in, session token out. */
export async function exchangeInstanceIdentity(opts: InstanceIdentityOptions): Promise<string> {
  const f = opts.fetch ?? fetch
  const proof = await fetchInstanceProof(opts)
  const name = opts.agentName?.trim()
  const endpoint = `${opts.url.replace(/\/+$/, '')}/api/v1/workspace-agents/${opts.auth}`
  const res = await f(endpoint, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ ...proof, ...(name ? { agent_name: name } : {}) }),
  })
  const body = (await res.json().catch(() => ({}))) as { session_token?: string; message?: string; agent_names?: string[] }
  if (res.ok && body.session_token) return body.session_token
  const message = body.message ?? `the control plane answered ${res.status}`
  if (res.status === 409 || res.status === 400) throw new AgentAuthRefused(res.status, message, body.agent_names)
  throw new AgentAuthNotYet(`${res.status}: ${message}`)
}

/** Exchanges until it works; a refusal for good (409) throws. */
export async function exchangeUntilAccepted(opts: InstanceIdentityOptions & { log: (line: string) => void; signal?: AbortSignal }): Promise<string> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await exchangeInstanceIdentity(opts)
    } catch (err) {
      if (err instanceof AgentAuthRefused) throw err
      const delay = Math.min(30_000, 500 * 2 ** Math.min(attempt, 6))
      opts.log(`instance identity not accepted yet (${(err as Error).message}); retrying in ${Math.round(delay / 100) / 10} s`)
      await new Promise((resolve) => setTimeout(resolve, delay))
      if (opts.signal?.aborted) throw err
    }
  }
}
