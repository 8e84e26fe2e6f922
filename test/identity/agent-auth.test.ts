// The instance-identity endpoints on the real server: for each cloud, proofs made by our own CA
// and keys, against workspaces whose builds declared their agents through an exec manifest.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { runWorkspaceAgent } from '../../src/workspace-agent/daemon.ts'
import { exchangeInstanceIdentity } from '../../src/workspace-agent/instance-identity.ts'
import { makeCloudIdentities, startFakeMetadataService, type CloudIdentities } from '../fakes/cloud-identity.ts'
import { startFakeProvider, type FakeProvider } from '../fakes/script.ts'
import { toolResults, type WorkspaceServer } from '../workspaces/harness.ts'
import { manifestTemplate, postFrom, startIdentityServer, workspaceWithAgents } from './support.ts'

const AUDIENCE = 'https://cairn.example.com'

let ids: CloudIdentities
let fake: FakeProvider
let h: WorkspaceServer
let templateId: string
let ownerId: string

beforeAll(async () => {
  ids = await makeCloudIdentities()
  fake = await startFakeProvider('openai-chat')
  h = await startIdentityServer(fake, ids, { googleAudience: AUDIENCE })
  const admin = await h.user('admin@example.com', 'admin')
  ownerId = (await h.user('owner@example.com', 'member')).userId
  templateId = await manifestTemplate(h, admin.userId)
}, 120_000)

afterAll(async () => {
  await h?.close()
  await fake?.close()
})

const clouds = [
  { cloud: 'aws', auth: 'aws-instance-identity', from: '127.0.0.11' },
  { cloud: 'azure', auth: 'azure-instance-identity', from: '127.0.0.12' },
  { cloud: 'google', auth: 'google-instance-identity', from: '127.0.0.13' },
] as const

for (const { cloud, auth, from } of clouds) {
  describe(`${auth}`, () => {
    const id = (what: string) => `${cloud}-${what}-${Math.random().toString(36).slice(2, 8)}`
    const proof = async (instanceId: string): Promise<Record<string, string>> =>
      cloud === 'aws' ? ids.awsProof(instanceId) : cloud === 'azure' ? ids.azureProof(instanceId) : { json_web_token: ids.googleProof(instanceId, AUDIENCE) }
    const exchange = async (body: Record<string, unknown>) => postFrom(`${h.server.url}/api/v1/workspace-agents/${auth}`, body, from)
    const agent = (name: string, instanceId: string, extra: Record<string, string> = {}) => ({ name, auth, instance_id: instanceId, ...extra })
    const whoseToken = (token: string) => h.server.workspaces.authenticate(token)
    const appendsNothing = async (run: () => Promise<unknown>) => {
      const before = await h.server.store.headCheckpoint()
      await run()
      expect(await h.server.store.headCheckpoint()).toEqual(before)
    }

    it('gives the one agent on an instance a session token without a name, and a blank name counts as none', async () => {
      const instanceId = id('single')
      const { workspaceId } = await workspaceWithAgents(h, ownerId, templateId, [agent('main', instanceId)])
      const res = await exchange(await proof(instanceId))
      expect(res.status, JSON.stringify(res.body)).toBe(200)
      expect(await whoseToken(res.body.session_token)).toEqual({ workspaceId, agentName: 'main' })
      const blank = await exchange({ ...(await proof(instanceId)), agent_name: '   ' })
      expect(blank.status).toBe(200)
      // a new token for the same agent replaces the old one
      expect(await whoseToken(res.body.session_token)).toBeNull()
      expect(await whoseToken(blank.body.session_token)).toEqual({ workspaceId, agentName: 'main' })
    })

    it('answers 409 listing both agents when two share the instance and no name is given (blank too)', async () => {
      const instanceId = id('pair')
      await workspaceWithAgents(h, ownerId, templateId, [agent('main', instanceId), agent('dev', instanceId)])
      await appendsNothing(async () => {
        for (const body of [await proof(instanceId), { ...(await proof(instanceId)), agent_name: '' }, { ...(await proof(instanceId)), agent_name: ' \t' }]) {
          const res = await exchange(body)
          expect(res.status).toBe(409)
          expect(res.body).toEqual({ message: `several agents share instance ${instanceId}; set CAIRN_AGENT_NAME to one of: dev, main`, agent_names: ['dev', 'main'] })
        }
      })
    })

    it('gives each named agent its own token, and 404 for a name the instance does not have', async () => {
      const instanceId = id('named')
      const { workspaceId } = await workspaceWithAgents(h, ownerId, templateId, [agent('main', instanceId), agent('dev', instanceId)])
      const main = await exchange({ ...(await proof(instanceId)), agent_name: 'main' })
      const dev = await exchange({ ...(await proof(instanceId)), agent_name: ' dev ' })
      expect([main.status, dev.status]).toEqual([200, 200])
      expect(await whoseToken(main.body.session_token)).toEqual({ workspaceId, agentName: 'main' })
      expect(await whoseToken(dev.body.session_token)).toEqual({ workspaceId, agentName: 'dev' })
      const unknown = await exchange({ ...(await proof(instanceId)), agent_name: 'qa' })
      expect(unknown.status).toBe(404)
      expect(unknown.body).toEqual({ message: `no agent named "qa" on instance ${instanceId}` })
    })

    it('counts only the latest build: agents an older build put on the instance neither match nor make it ambiguous', async () => {
      const reused = id('reused')
      const old = await workspaceWithAgents(h, ownerId, templateId, [agent('main', reused), agent('dev', reused)])
      await old.rebuild([agent('main', id('moved'))])
      await appendsNothing(async () => {
        const stale = await exchange({ ...(await proof(reused)), agent_name: 'dev' })
        expect(stale.status).toBe(401)
        expect(stale.body.message).toContain(`unknown instance ${reused}`)
      })
      // another workspace now runs on the reused instance id: it alone matches, no 409
      const { workspaceId } = await workspaceWithAgents(h, ownerId, templateId, [agent('main', reused)])
      const res = await exchange(await proof(reused))
      expect(res.status, JSON.stringify(res.body)).toBe(200)
      expect(await whoseToken(res.body.session_token)).toEqual({ workspaceId, agentName: 'main' })
    })

    it('never selects a sub-agent', async () => {
      const instanceId = id('sub')
      await workspaceWithAgents(h, ownerId, templateId, [{ name: 'main', auth: 'token' }, agent('child', instanceId, { parent: 'main' })])
      for (const body of [await proof(instanceId), { ...(await proof(instanceId)), agent_name: 'child' }]) {
        const res = await exchange(body)
        expect(res.status).toBe(401)
        expect(res.body.message).toContain(`unknown instance ${instanceId}`)
      }
      // beside a root agent on the same instance, the sub-agent does not make it ambiguous
      const shared = id('sub-shared')
      const { workspaceId } = await workspaceWithAgents(h, ownerId, templateId, [agent('main', shared), agent('helper', shared, { parent: 'main' })])
      const res = await exchange(await proof(shared))
      expect(res.status).toBe(200)
      expect(await whoseToken(res.body.session_token)).toEqual({ workspaceId, agentName: 'main' })
    })

    it('rejects a forged proof with 401 and appends nothing', async () => {
      const instanceId = id('forged')
      await workspaceWithAgents(h, ownerId, templateId, [agent('main', instanceId)])
      const forged: Record<string, string> =
        cloud === 'aws'
          ? await ids.awsProof(instanceId, await (await import('../fakes/cloud-identity.ts')).issueCertificate('ec2.amazonaws.com'))
          : cloud === 'azure'
            ? await ids.azureProof(instanceId, { signer: await (await import('../fakes/cloud-identity.ts')).issueCertificate('metadata.azure.com') })
            : { json_web_token: ids.google.sign((await import('../fakes/cloud-identity.ts')).googleClaims(instanceId, AUDIENCE), { key: (await import('../fakes/cloud-identity.ts')).untrustedRsaKey() }) }
      await appendsNothing(async () => {
        const res = await exchange(forged)
        expect(res.status).toBe(401)
        expect(res.body.message).toMatch(cloud === 'aws' ? /forged or foreign/ : cloud === 'azure' ? /does not chain/ : /forged identity token/)
      })
      if (cloud === 'aws') {
        // a genuine signature over another document
        const genuine = await ids.awsProof(id('other'))
        const res = await exchange({ ...genuine, document: (await ids.awsProof(instanceId)).document })
        expect(res.status).toBe(401)
        expect(res.body.message).toMatch(/message digest differs/)
      }
    })

    it(cloud === 'aws' ? 'rejects a proof that is not PKCS#7' : 'rejects an expired proof', async () => {
      const instanceId = id('expired')
      await workspaceWithAgents(h, ownerId, templateId, [agent('main', instanceId)])
      const expired =
        cloud === 'aws'
          ? { signature: Buffer.from('not a signature').toString('base64'), document: (await ids.awsProof(instanceId)).document }
          : cloud === 'azure'
            ? await ids.azureProof(instanceId, { expired: true })
            : { json_web_token: ids.googleProof(instanceId, AUDIENCE, { expiresInS: -300 }) }
      await appendsNothing(async () => {
        const res = await exchange(expired)
        expect(res.status).toBe(401)
        expect(res.body.message).toMatch(cloud === 'aws' ? /not valid PKCS#7/ : /expired/)
      })
    })

    if (cloud === 'google') {
      it('rejects a token for another audience', async () => {
        const instanceId = id('aud')
        await workspaceWithAgents(h, ownerId, templateId, [agent('main', instanceId)])
        const res = await exchange({ json_web_token: ids.googleProof(instanceId, 'https://other.example.com') })
        expect(res.status).toBe(401)
        expect(res.body.message).toBe(`wrong audience "https://other.example.com"; this server expects "${AUDIENCE}"`)
      })
    }

    it('answers 401 for an instance no workspace declares, and 400 for a body without the proof', async () => {
      const res = await exchange(await proof(id('nobody')))
      expect(res.status).toBe(401)
      expect(res.body.message).toMatch(/unknown instance/)
      const empty = await exchange({})
      expect(empty.status).toBe(400)
      expect(empty.body.message).toMatch(/is required/)
    })
  })
}

describe('the daemon side', () => {
  it('fetches each cloud\'s proof from its metadata service the way the cloud serves it, and trades it for a token', async () => {
    const instanceId = `vm-${Math.random().toString(36).slice(2, 8)}`
    const metadata = await startFakeMetadataService(ids, instanceId)
    try {
      for (const auth of ['aws-instance-identity', 'azure-instance-identity', 'google-instance-identity'] as const) {
        const { workspaceId } = await workspaceWithAgents(h, ownerId, templateId, [{ name: 'main', auth, instance_id: instanceId }])
        const token = await exchangeInstanceIdentity({ url: h.server.url, auth, metadataUrl: metadata.url, audience: AUDIENCE })
        expect(await h.server.workspaces.authenticate(token)).toEqual({ workspaceId, agentName: 'main' })
      }
      expect(metadata.requests).toEqual(
        expect.arrayContaining([
          'PUT /latest/api/token',
          'GET /latest/dynamic/instance-identity/document',
          'GET /latest/dynamic/instance-identity/pkcs7',
          'GET /metadata/attested/document',
          'GET /computeMetadata/v1/instance/service-accounts/default/identity',
        ]),
      )
    } finally {
      await metadata.close()
    }
  })
})

describe('tools in a workspace whose only agent is not main', () => {
  it('go to that agent when the call names none', async () => {
    const instanceId = `solo-${Math.random().toString(36).slice(2, 8)}`
    const { workspaceId } = await workspaceWithAgents(h, ownerId, templateId, [{ name: 'dev', auth: 'google-instance-identity', instance_id: instanceId }])
    const res = await postFrom(`${h.server.url}/api/v1/workspace-agents/google-instance-identity`, { json_web_token: ids.googleProof(instanceId, AUDIENCE) }, '127.0.0.14')
    expect(res.status).toBe(200)
    const dir = mkdtempSync(join(tmpdir(), 'cairn-solo-'))
    const daemon = await runWorkspaceAgent({ url: h.server.url, token: res.body.session_token, workdir: dir, log: () => {} })
    try {
      await h.server.workspaces.tunnels.waitForConnection(workspaceId, 30_000, undefined, 'dev')
      h.script('who serves me', [{ toolCalls: [{ id: 's1', name: 'execute', arguments: { command: 'pwd' } }] }, { text: 'done' }])
      const chatId = await h.createChat(ownerId, 'who serves me', { workspaceId })
      const events = await h.waitFor(chatId, (es) => es.some((e) => e.type === 'TurnCompleted' || e.type === 'TurnFailed'), 60_000)
      expect(toolResults(events).s1).toMatchObject({ isError: false })
      expect(toolResults(events).s1?.result).toContain(dir)
    } finally {
      await daemon.close()
    }
  }, 90_000)
})

describe('a bad manifest', () => {
  it('fails the build with a message that says what is wrong', async () => {
    const ws = h.server.workspaces
    const actor = (await ws.actorFor(ownerId))!
    const file = join(mkdtempSync(join(tmpdir(), 'cairn-bad-manifest-')), 'm.json')
    writeFileSync(file, '{"cairn_agents": [{"name": "main", "auth": "google-instance-identity"}]}')
    const created = await ws.createWorkspace(actor, { templateId, parameters: { manifest_file: file } })
    const outcome = await created.build
    expect(outcome.ok).toBe(false)
    expect(outcome.error).toBe(
      'the agent manifest (the last line of the command\'s output) is invalid: agent 1 ("main"): auth google-instance-identity needs the instance_id of the instance it runs on',
    )
    expect((await ws.getWorkspace(actor, created.workspace.id))?.status).toBe('failed')
    expect(await ws.agentsOf(created.workspace.id)).toEqual([])
  })
})

describe('failed attempts', () => {
  it('are limited per source address: after 20 failures a caller gets 429, others do not', async () => {
    const url = `${h.server.url}/api/v1/workspace-agents/google-instance-identity`
    for (let i = 0; i < 20; i++) expect((await postFrom(url, { json_web_token: 'x.y.z' }, '127.0.0.30')).status).toBe(401)
    const limited = await postFrom(url, { json_web_token: 'x.y.z' }, '127.0.0.30')
    expect(limited.status).toBe(429)
    expect(limited.body.message).toMatch(/too many failed attempts from 127.0.0.30; retry in \d+ s/)
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0)
    expect((await postFrom(url, { json_web_token: 'x.y.z' }, '127.0.0.31')).status).toBe(401)
  })
})
