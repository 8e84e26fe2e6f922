import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { projections } from '../../projections/index.ts'
import { loadEnv, type CairnEnv } from '../config/env.ts'
import { migrate } from '../db/migrate.ts'
import { closeOnSignals, openContext, openDatabaseFor, startServer } from '../server.ts'
import { formatTable } from './table.ts'
import { chatCommand } from './chat.ts'
import { runIdentityCommand } from '../identity/cli.ts'
import { runEventsCommand } from './events.ts'

export interface CliIo {
  env: Record<string, string | undefined>
  out(line: string): void
  err(line: string): void
}

interface Command {
  usage: string
  summary: string
  /** It parses its own --flags (the global parse would reject them). */
  takesFlags?: boolean
  /** Resolves to the exit code, or undefined when the command keeps the process running. */
  run(args: string[], io: CliIo): Promise<number | undefined>
}

const BENCH_INDEX = fileURLToPath(new URL('../../bench/index.ts', import.meta.url))
const SOAK_INDEX = fileURLToPath(new URL('../../soak/index.ts', import.meta.url))

/** `cairn users|tokens|orgs …`: identity changes written to the log (no server needed). */
function identityCommand(kind: 'users' | 'tokens' | 'orgs', usage: string, summary: string): Command {
  return {
    takesFlags: true,
    usage,
    summary,
    async run(args, io) {
      const ctx = await openContext({ env: loadEnv(io.env), projections, log: () => {} })
      try {
        return await runIdentityCommand(kind, args, ctx.store, io)
      } finally {
        await ctx.close()
      }
    },
  }
}

const commands: Record<string, Command> = {
  serve: {
    usage: 'serve',
    summary: 'run the control plane (HTTP API, projections) on HOST:PORT',
    async run(_args, io) {
      const server = await startServer({ env: loadEnv(io.env), projections, log: io.out })
      closeOnSignals(server, io.out)
      return undefined
    },
  },

  migrate: {
    usage: 'migrate',
    summary: 'apply pending database migrations',
    async run(_args, io) {
      const env = loadEnv(io.env)
      const db = await openDatabaseFor(env)
      try {
        const applied = await migrate(db, io.out)
        io.out(applied.length ? `applied ${applied.length} migration(s) to ${describeDb(env)}` : `${describeDb(env)} is up to date`)
      } finally {
        await db.close()
      }
      return 0
    },
  },

  projections: {
    usage: 'projections status | projections rebuild [name]',
    summary: "show each projection's checkpoint and lag, or rebuild one (or all) from the beginning",
    async run(args, io) {
      const [action, name, ...rest] = args
      if ((action !== 'status' && action !== 'rebuild') || rest.length || (action === 'status' && name)) {
        io.err('usage: cairn projections status | projections rebuild [name]')
        return 2
      }
      const ctx = await openContext({ env: loadEnv(io.env), projections, log: io.out })
      try {
        if (action === 'rebuild') await ctx.engine.rebuild(name)
        const rows = await ctx.engine.status()
        if (!rows.length) {
          io.out('no projections are registered (see projections/index.ts)')
          return 0
        }
        const table = formatTable(
          ['PROJECTION', 'CHECKPOINT', 'LAG', 'ERROR'],
          rows.map((r) => [r.name, r.checkpoint || '(start)', String(r.lag), r.error ?? '']),
        )
        for (const line of table) io.out(line)
        return rows.some((r) => r.error) ? 1 : 0
      } finally {
        await ctx.close()
      }
    },
  },

  users: identityCommand('users', 'users create|grant-role|revoke-role --email E …', 'create a user and print their API token once; grant or revoke a role in an organization'),
  tokens: identityCommand('tokens', 'tokens create --email E', 'issue another API token for a user and print it once'),
  orgs: identityCommand('orgs', 'orgs create --name N', 'create an organization'),

  chat: { ...chatCommand, takesFlags: true },

  events: {
    takesFlags: true,
    usage: 'events verify|anchor|export|import|replay',
    summary: 'verify hash chains and signed anchors, export/import/replay a chat (see `cairn events`)',
    run: (args, io) => runEventsCommand(args, io),
  },

  'workspace-agent': {
    takesFlags: true,
    usage: 'workspace-agent --url URL [--auth KIND] [--agent-name N] [--dir DIR]',
    summary: 'run the workspace daemon: dials out to the control plane (token in CAIRN_AGENT_TOKEN, or a cloud instance identity)',
    async run(args) {
      const { main } = await import('../workspace-agent/main.ts')
      await main(args)
      return process.exitCode ? Number(process.exitCode) : undefined
    },
  },

  bench: {
    // `--json` is the bench runner's own flag; the global parse would reject it.
    takesFlags: true,
    usage: 'bench [--json] [name…]',
    summary: 'run the benchmarks in bench/ (all, or the named ones)',
    async run(args, io) {
      if (!existsSync(BENCH_INDEX)) {
        io.err('no benchmarks: bench/index.ts does not exist')
        return 1
      }
      const { runBenches } = (await import(BENCH_INDEX)) as typeof import('../../bench/index.ts')
      await runBenches(io.out, args)
      return 0
    },
  },

  soak: {
    takesFlags: true,
    usage: 'soak [--minutes N] [--kills N] [--only 1,3,…] [--keep]',
    summary: 'inject the faults (killed runners, a restarted database, provider errors, …) into real servers on loopback and check nothing was lost',
    async run(args, io) {
      if (!existsSync(SOAK_INDEX)) {
        io.err('no soak: soak/index.ts does not exist')
        return 1
      }
      const { runSoak } = (await import(SOAK_INDEX)) as typeof import('../../soak/index.ts')
      return runSoak(args, io.out, io.err)
    },
  },
}

function describeDb(env: CairnEnv): string {
  return env.databaseUrl ? `PostgreSQL ${new URL(env.databaseUrl).host}` : `PGlite in ${env.dataDir}/pgdata`
}

export function usage(): string {
  const width = Math.max(...Object.values(commands).map((c) => c.usage.length))
  return [
    'usage: cairn <command>',
    '',
    ...Object.values(commands).map((c) => `  ${c.usage.padEnd(width)}  ${c.summary}`),
    '',
    'environment: DATABASE_URL (else PGlite in CAIRN_DATA_DIR, default ./.cairn), PORT (8080), HOST (0.0.0.0)',
  ].join('\n')
}

/** Runs one `cairn` invocation. */
export async function runCli(argv: string[], io: CliIo): Promise<number | undefined> {
  // These take their own --flags; the global parse below would reject them.
  const direct = argv[0] === undefined ? undefined : commands[argv[0]]
  if (direct?.takesFlags) return direct.run(argv.slice(1), io)
  let parsed
  try {
    parsed = parseArgs({ args: argv, allowPositionals: true, options: { help: { type: 'boolean', short: 'h' } } })
  } catch (err) {
    io.err(`${err instanceof Error ? err.message : String(err)}\n\n${usage()}`)
    return 2
  }
  const [name, ...args] = parsed.positionals
  if (parsed.values.help || name === 'help') {
    io.out(usage())
    return 0
  }
  const command = name === undefined ? undefined : commands[name]
  if (!command) {
    io.err(`${name === undefined ? 'no command given' : `unknown command: ${name}`}\n\n${usage()}`)
    return 2
  }
  return command.run(args, io)
}
