// `npm run bench` runs every benchmark listed here. Adding a bench is one line in `benches`.
import { benchAsOf } from './audit-asof.ts'
import { benchAudit } from './audit.ts'
import { benchEventStore } from './eventstore.ts'
import { benchFanout } from './fanout.ts'
import { benchFork } from './fork.ts'
import { benchIdentity } from './identity.ts'
import { benchLoop } from './loop.ts'
import { createReport, type Report } from './report.ts'
import { benchTunnel } from './tunnel.ts'
import { benchUi } from './ui.ts'

export type Bench = (report: Report) => Promise<void>

export const benches: Record<string, Bench> = {
  // verify, export, then the as-of fold: one bench for an auditor's tools.
  audit: async (report) => (await benchAudit(report), await benchAsOf(report)),
  eventstore: benchEventStore,
  fanout: benchFanout,
  fork: benchFork,
  identity: benchIdentity,
  loop: benchLoop,
  tunnel: benchTunnel,
  ui: benchUi,
}

/**
 * Runs the named benches (all when none is named), printing each one's report lines;
 * `--json` adds one JSON line per figure.
 */
export async function runBenches(print: (line: string) => void, args: readonly string[] = []): Promise<void> {
  const json = args.includes('--json')
  const only = args.filter((a) => a !== '--json')
  const unknown = only.filter((name) => !(name in benches))
  if (unknown.length) throw new Error(`unknown bench: ${unknown.join(', ')}; known: ${Object.keys(benches).join(', ')}`)
  for (const [name, bench] of Object.entries(benches)) {
    if (only.length && !only.includes(name)) continue
    print(`== ${name}`)
    await bench(createReport(name, print, json))
  }
}
