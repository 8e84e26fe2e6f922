// Shared by the instance-identity tests: a server that trusts our fake clouds, exec templates whose
// builds declare the agents a test writes into a file, and HTTP from a chosen source address.
import { mkdtempSync, writeFileSync } from 'node:fs'
import http from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { CloudIdentities } from '../fakes/cloud-identity.ts'
import type { FakeProvider } from '../fakes/script.ts'
import { startWorkspaceServer, type WorkspaceServer } from '../workspaces/harness.ts'

export async function startIdentityServer(fake: FakeProvider, ids: CloudIdentities, opts: { databaseUrl?: string; googleAudience?: string } = {}): Promise<WorkspaceServer> {
  return startWorkspaceServer(fake, {
    databaseUrl: opts.databaseUrl,
    env: {
      instanceIdentity: {
        awsCertsFile: ids.files.awsCerts,
        azureCertsFile: ids.files.azureCerts,
        googleJwksFile: ids.files.googleJwks,
        googleAudience: opts.googleAudience,
      },
    },
  })
}

/** An exec template whose start command prints the manifest file a test wrote: each build may declare other agents. */
export async function manifestTemplate(h: WorkspaceServer, adminId: string): Promise<string> {
  const ws = h.server.workspaces
  const t = await ws.createTemplate((await ws.actorFor(adminId))!, {
    name: `manifest-${Math.random().toString(36).slice(2, 8)}`,
    description: 'Declares the agents written in a file.',
    parameters: [{ name: 'manifest_file', description: 'path of the manifest', type: 'string' }],
    provisioner: { kind: 'exec', create: 'echo creating', start: 'echo starting; cat "$CAIRN_PARAM_MANIFEST_FILE"', stop: 'echo stopping', delete: '' },
    allowedRoles: 'everyone',
  })
  return t.id
}

type ManifestAgent = { name: string; auth?: string; instance_id?: string; parent?: string }

/** A workspace whose first build declares `agents`; `rebuild` stops and starts it with other agents. */
export async function workspaceWithAgents(h: WorkspaceServer, ownerId: string, templateId: string, agents: ManifestAgent[]) {
  const ws = h.server.workspaces
  const actor = (await ws.actorFor(ownerId))!
  const file = join(mkdtempSync(join(tmpdir(), 'cairn-manifest-')), 'manifest.json')
  writeFileSync(file, JSON.stringify({ cairn_agents: agents }))
  const created = await ws.createWorkspace(actor, { templateId, parameters: { manifest_file: file } })
  const outcome = await created.build
  if (!outcome.ok) throw new Error(`build failed: ${outcome.error}\n${outcome.log}`)
  const workspaceId = created.workspace.id
  return {
    workspaceId,
    async rebuild(next: ManifestAgent[]) {
      writeFileSync(file, JSON.stringify({ cairn_agents: next }))
      const stopped = await (await ws.stopWorkspace(actor, workspaceId)).build
      if (!stopped.ok) throw new Error(`stop failed: ${stopped.error}`)
      const started = await (await ws.startWorkspace(actor, workspaceId)).build
      if (!started.ok) throw new Error(`start failed: ${started.error}\n${started.log}`)
    },
  }
}

/** POST JSON from a given loopback address, so tests can stand for different callers (rate limits are per address). */
export function postFrom(url: string, body: unknown, localAddress = '127.0.0.1'): Promise<{ status: number; body: any; headers: http.IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    const data = Buffer.from(JSON.stringify(body))
    const req = http.request(url, { method: 'POST', localAddress, headers: { 'content-type': 'application/json', 'content-length': data.length } }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8')
        let parsed: unknown = text
        try {
          parsed = JSON.parse(text)
        } catch {
          // keep the text
        }
        resolve({ status: res.statusCode ?? 0, body: parsed, headers: res.headers })
      })
    })
    req.on('error', reject)
    req.end(data)
  })
}
