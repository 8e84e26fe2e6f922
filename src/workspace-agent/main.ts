// `cairn workspace-agent --url URL [--auth KIND] [--agent-name NAME] --dir DIR`. With token auth
// (the default) the token comes from --token or CAIRN_AGENT_TOKEN, which keeps it out of `ps`;
// with instance-identity auth the daemon fetches its instance's signed identity from the cloud's
// metadata service (CAIRN_METADATA_URL overrides its address) and trades it for a session token.
import { parseArgs } from 'node:util'
import { runWorkspaceAgent } from './daemon.ts'
import { AgentAuthRefused, CLOUD_AUTH_KINDS, exchangeUntilAccepted, type CloudAuthKind } from './instance-identity.ts'

export async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      url: { type: 'string' },
      token: { type: 'string' },
      auth: { type: 'string' },
      'agent-name': { type: 'string' },
      dir: { type: 'string' },
      'state-dir': { type: 'string' },
      socket: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  })
  const usage = [
    'usage: cairn workspace-agent --url URL [--auth token|aws-instance-identity|azure-instance-identity|google-instance-identity]',
    '         [--agent-name NAME] [--token TOKEN | env CAIRN_AGENT_TOKEN] [--dir DIR] [--state-dir DIR] [--socket PATH]',
    '  env: CAIRN_AGENT_AUTH, CAIRN_AGENT_NAME (which of several agents on one instance), CAIRN_METADATA_URL',
  ].join('\n')
  if (values.help) {
    process.stdout.write(`${usage}\n`)
    return
  }
  const url = values.url ?? process.env.CAIRN_AGENT_URL
  const auth = (values.auth ?? process.env.CAIRN_AGENT_AUTH ?? 'token').trim()
  const agentName = (values['agent-name'] ?? process.env.CAIRN_AGENT_NAME)?.trim() || undefined
  const metadataUrl = process.env.CAIRN_METADATA_URL?.trim() || undefined
  const audience = process.env.CAIRN_GOOGLE_IDENTITY_AUDIENCE?.trim() || undefined
  let token = values.token ?? process.env.CAIRN_AGENT_TOKEN
  delete process.env.CAIRN_AGENT_TOKEN // keep it from the processes we start
  const log = (msg: string) => process.stderr.write(`[cairn-agent${agentName ? ` ${agentName}` : ''}] ${msg}\n`)
  if (auth !== 'token' && !CLOUD_AUTH_KINDS.includes(auth as CloudAuthKind)) {
    process.stderr.write(`unknown --auth ${JSON.stringify(auth)}\n${usage}\n`)
    process.exitCode = 2
    return
  }
  if (!url || (auth === 'token' && !token)) {
    process.stderr.write(`${usage}\n`)
    process.exitCode = 2
    return
  }
  let refreshToken: (() => Promise<string>) | undefined
  if (auth !== 'token') {
    const exchange = () => exchangeUntilAccepted({ url, auth: auth as CloudAuthKind, agentName, metadataUrl, audience, log })
    try {
      token = await exchange()
    } catch (err) {
      if (!(err instanceof AgentAuthRefused)) throw err
      process.stderr.write(`[cairn-agent] the control plane refused this agent (${err.status}): ${err.message}\n`)
      process.exitCode = 1
      return
    }
    log(`authenticated with ${auth}${agentName ? ` as agent ${agentName}` : ''}`)
    refreshToken = exchange
  }
  const agent = await runWorkspaceAgent({
    url,
    token: token!,
    refreshToken,
    workdir: values.dir ?? process.cwd(),
    stateDir: values['state-dir'],
    localSocket: values.socket,
    log,
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
