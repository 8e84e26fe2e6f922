// `POST /api/v1/workspace-agents/{aws,azure,google}-instance-identity`: a daemon that has no token
// yet trades its cloud instance's signed identity for a session token of one agent. HTTP, not
// GraphQL: the caller has no credentials. Failed proofs are rate-limited per source address.
import type { FastifyPluginAsync, FastifyReply } from 'fastify'
import type { AgentAuthKind } from '../events/workspace.ts'
import { verifyAwsIdentity } from './identity/aws.ts'
import { verifyAzureIdentity } from './identity/azure.ts'
import { InstanceIdentityError } from './identity/errors.ts'
import { verifyGoogleIdentity } from './identity/google.ts'
import type { InstanceIdentityTrust } from './identity/trust.ts'
import type { WorkspaceService } from './service.ts'

export const AGENT_AUTH_PREFIX = '/api/v1/workspace-agents'

type CloudAuthKind = Exclude<AgentAuthKind, 'token'>

export interface AgentAuthRoutesOptions {
  workspaces: WorkspaceService
  trust: InstanceIdentityTrust
  /** Failed attempts one address may make per minute before it gets 429. Default 20. */
  failuresPerMinute?: number
}

/** Sliding one-minute window of failures per address. */
export class FailureLimiter {
  readonly #failures = new Map<string, number[]>()
  constructor(private readonly perMinute: number) {}

  /** Seconds until `address` may try again, or 0. */
  retryAfter(address: string, now = Date.now()): number {
    const recent = (this.#failures.get(address) ?? []).filter((t) => now - t < 60_000)
    if (recent.length) this.#failures.set(address, recent)
    else this.#failures.delete(address)
    return recent.length >= this.perMinute ? Math.ceil((recent[0]! + 60_000 - now) / 1000) : 0
  }

  fail(address: string, now = Date.now()): void {
    this.#failures.set(address, [...(this.#failures.get(address) ?? []), now])
  }
}

export const agentAuthRoutes: FastifyPluginAsync<AgentAuthRoutesOptions> = async (app, opts) => {
  const limiter = new FailureLimiter(opts.failuresPerMinute ?? 20)

  const route = (kind: CloudAuthKind, verify: (body: Record<string, unknown>) => { instanceId: string }) =>
    app.post(`${AGENT_AUTH_PREFIX}/${kind}`, async (req, reply) => {
      const address = req.ip
      const wait = limiter.retryAfter(address)
      if (wait > 0) return reply.code(429).header('retry-after', String(wait)).send({ message: `too many failed attempts from ${address}; retry in ${wait} s` })
      const fail = (status: 400 | 401, message: string) => {
        limiter.fail(address)
        return reply.code(status).send({ message })
      }
      const body = req.body
      if (typeof body !== 'object' || body === null || Array.isArray(body)) return fail(400, 'expected a JSON object body')
      const fields = body as Record<string, unknown>
      if (fields.agent_name !== undefined && fields.agent_name !== null && typeof fields.agent_name !== 'string') return fail(400, 'agent_name must be a string')
      let instanceId: string
      try {
        instanceId = verify(fields).instanceId
      } catch (err) {
        if (err instanceof InstanceIdentityError) return fail(401, err.message)
        if (err instanceof BadRequest) return fail(400, err.message)
        throw err
      }
      const outcome = await opts.workspaces.exchangeInstanceIdentity(kind, instanceId, fields.agent_name as string | undefined)
      if (outcome.ok) return reply.send({ session_token: outcome.token })
      return answerRefusal(reply, outcome, () => limiter.fail(address))
    })

  route('aws-instance-identity', (b) => verifyAwsIdentity({ signature: requiredString(b, 'signature'), document: requiredString(b, 'document') }, opts.trust.aws))
  route('azure-instance-identity', (b) =>
    verifyAzureIdentity({ signature: requiredString(b, 'signature'), encoding: typeof b.encoding === 'string' ? b.encoding : null }, opts.trust.azure),
  )
  route('google-instance-identity', (b) => {
    const audience = opts.trust.googleAudience ?? opts.workspaces.controlPlaneUrl
    if (!audience) throw new InstanceIdentityError('the server does not know its own URL yet, so it cannot check the token audience')
    return verifyGoogleIdentity(requiredString(b, 'json_web_token'), opts.trust.google, audience)
  })
}

class BadRequest extends Error {}

function requiredString(body: Record<string, unknown>, field: string): string {
  const v = body[field]
  if (typeof v !== 'string' || !v.trim()) throw new BadRequest(`${field} is required (a string)`)
  return v
}

function answerRefusal(reply: FastifyReply, refusal: { status: 401 | 404 | 409; message: string; agentNames?: string[] }, countFailure: () => void) {
  // An unknown instance is a failed proof; a wrong or missing agent name comes with a valid one.
  if (refusal.status === 401) countFailure()
  return reply.code(refusal.status).send(refusal.agentNames ? { message: refusal.message, agent_names: refusal.agentNames } : { message: refusal.message })
}
