// `exec`: the template's shell commands make the workspace; they get the daemon's URL and token in env.
import { spawn } from 'node:child_process'
import { ProvisionError, type Provisioner, type ProvisionRequest, type ProvisionResult } from './types.ts'

const STEP_TIMEOUT_MS = 10 * 60_000

export class ExecProvisioner implements Provisioner {
  async create(req: ProvisionRequest): Promise<ProvisionResult> {
    return { lastLine: await this.#run(req, 'create') }
  }
  async start(req: ProvisionRequest): Promise<ProvisionResult> {
    return { lastLine: await this.#run(req, 'start') }
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

  /** Resolves to the last non-empty line the command printed on stdout. */
  #run(req: ProvisionRequest, step: 'create' | 'start' | 'stop' | 'delete'): Promise<string | null> {
    if (req.spec.kind !== 'exec') throw new ProvisionError('the exec provisioner needs an exec template')
    const command = req.spec[step]
    if (!command.trim()) return Promise.resolve(null)
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
      // stdout and stderr are split into lines apart, so a manifest line is never cut by stderr output
      let lastStdoutLine: string | null = null
      const lineReader = (isStdout: boolean) => {
        let partial = ''
        const emit = (l: string) => {
          req.log(l)
          if (isStdout && l.trim()) lastStdoutLine = l
        }
        return {
          data(d: Buffer) {
            const lines = (partial + d.toString('utf8')).split('\n')
            partial = lines.pop() ?? ''
            for (const l of lines) emit(l)
          },
          flush() {
            if (partial) emit(partial)
            partial = ''
          },
        }
      }
      const out = lineReader(true)
      const errLines = lineReader(false)
      child.stdout.on('data', (d: Buffer) => out.data(d))
      child.stderr.on('data', (d: Buffer) => errLines.data(d))
      const timer = setTimeout(() => child.kill('SIGKILL'), STEP_TIMEOUT_MS)
      child.on('error', (err) => {
        clearTimeout(timer)
        reject(new ProvisionError(`${step} command could not start: ${err.message}`))
      })
      child.on('close', (code, signal) => {
        clearTimeout(timer)
        out.flush()
        errLines.flush()
        if (code === 0) resolve(lastStdoutLine)
        else reject(new ProvisionError(`${step} command failed (${signal ? `signal ${signal}` : `exit code ${code}`})`))
      })
    })
  }
}
