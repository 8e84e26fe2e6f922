// The local provisioner keeps what its daemon printed, so a daemon that never connects can be explained.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { LocalProvisioner } from '../../src/workspaces/provisioners/local.ts'

describe('the local provisioner', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'cairn-local-prov-'))
  const provisioner = new LocalProvisioner({ dataDir, log: () => {} })
  afterAll(async () => {
    await provisioner.close()
    rmSync(dataDir, { recursive: true, force: true })
  })

  it("keeps the daemon's output, which explains why it does not connect", async () => {
    const req = {
      workspaceId: '33333333-3333-4333-8333-333333333333',
      controlPlaneUrl: 'http://127.0.0.1:9', // nothing listens here
      agentToken: 'token-that-is-never-printed',
      parameters: {},
      spec: { kind: 'local' as const },
      log: () => {},
    }
    await provisioner.create(req)
    await provisioner.start(req)
    const deadline = Date.now() + 30_000
    while (!/127\.0\.0\.1:9/.test(provisioner.recentOutput(req.workspaceId)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100))
    const output = provisioner.recentOutput(req.workspaceId)
    expect(output).toMatch(/127\.0\.0\.1:9/)
    expect(output).not.toContain(req.agentToken)
  })
})
