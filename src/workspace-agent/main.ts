// `cairn workspace-agent --url URL --token TOKEN --dir DIR`; the token may come from
// CAIRN_AGENT_TOKEN instead, which keeps it out of `ps`.
import { parseArgs } from 'node:util'
import { runWorkspaceAgent } from './daemon.ts'

export async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      url: { type: 'string' },
      token: { type: 'string' },
      dir: { type: 'string' },
      'state-dir': { type: 'string' },
      socket: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  })
  const usage = 'usage: cairn workspace-agent --url URL [--token TOKEN | env CAIRN_AGENT_TOKEN] [--dir DIR] [--state-dir DIR] [--socket PATH]'
  if (values.help) {
    process.stdout.write(`${usage}\n`)
    return
  }
  const url = values.url ?? process.env.CAIRN_AGENT_URL
  const token = values.token ?? process.env.CAIRN_AGENT_TOKEN
  delete process.env.CAIRN_AGENT_TOKEN // keep it from the processes we start
  if (!url || !token) {
    process.stderr.write(`${usage}\n`)
    process.exitCode = 2
    return
  }
  const agent = await runWorkspaceAgent({
    url,
    token,
    workdir: values.dir ?? process.cwd(),
    stateDir: values['state-dir'],
    localSocket: values.socket,
  })
  const stop = () => {
    void agent.close().finally(() => process.exit(0))
  }
  process.once('SIGTERM', stop)
  process.once('SIGINT', stop)
}

if (import.meta.url === `file://${process.argv[1]}` || process.argv[1]?.endsWith('workspace-agent/main.ts')) {
  main(process.argv.slice(2)).catch((err: unknown) => {
    process.stderr.write(`[cairn-agent] ${err instanceof Error ? err.message : String(err)}\n`)
    process.exit(1)
  })
}
