// `exec`: the template's shell commands make the workspace; they get the daemon's URL and token in env.
import { spawn } from 'node:child_process'
import { ProvisionError, type Provisioner, type ProvisionRequest } from './types.ts'

const STEP_TIMEOUT_MS = 10 * 60_000

export class ExecProvisioner implements Provisioner {
  async create(req: ProvisionRequest) {
    await this.#run(req, 'create')
  }
  async start(req: ProvisionRequest) {
    await this.#run(req, 'start')
  }
  async stop(req: ProvisionRequest) {
    await this.#run(req, 'stop')
  }
  async delete(req: ProvisionRequest) {
    await this.#run(req, 'delete')
  }
  status(): 'unknown' {
    return 'unknown'
  }
  async close() {}

  #run(req: ProvisionRequest, step: 'create' | 'start' | 'stop' | 'delete'): Promise<void> {
    if (req.spec.kind !== 'exec') throw new ProvisionError('the exec provisioner needs an exec template')
    const command = req.spec[step]
    if (!command.trim()) return Promise.resolve()
    req.log(`$ ${step}: ${command}`)
    const params = Object.fromEntries(
      Object.entries(req.parameters).map(([k, v]) => [`CAIRN_PARAM_${k.toUpperCase().replace(/[^A-Z0-9]/g, '_')}`, String(v)]),
    )
    return new Promise((resolve, reject) => {
      const child = spawn('/bin/sh', ['-c', command], {
        env: {
          PATH: process.env.PATH ?? '/usr/bin:/bin',
          HOME: process.env.HOME ?? '/',
          LANG: process.env.LANG ?? 'C.UTF-8',
          ...params,
          CAIRN_URL: req.controlPlaneUrl,
          CAIRN_WORKSPACE_ID: req.workspaceId,
          CAIRN_AGENT_TOKEN: req.agentToken,
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      })
      let partial = ''
      const onData = (d: Buffer) => {
        const lines = (partial + d.toString('utf8')).split('\n')
        partial = lines.pop() ?? ''
        for (const l of lines) req.log(l)
      }
      child.stdout.on('data', onData)
      child.stderr.on('data', onData)
      const timer = setTimeout(() => child.kill('SIGKILL'), STEP_TIMEOUT_MS)
      child.on('error', (err) => {
        clearTimeout(timer)
        reject(new ProvisionError(`${step} command could not start: ${err.message}`))
      })
      child.on('close', (code, signal) => {
        clearTimeout(timer)
        if (partial) req.log(partial)
        if (code === 0) resolve()
        else reject(new ProvisionError(`${step} command failed (${signal ? `signal ${signal}` : `exit code ${code}`})`))
      })
    })
  }
}
