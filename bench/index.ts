// `npm run bench` runs every benchmark listed here. Adding a bench is one line in `benches`.
import { benchEventStore } from './eventstore.ts'
import { benchFanout } from './fanout.ts'
import { benchLoop } from './loop.ts'
import { benchTunnel } from './tunnel.ts'

export type Bench = (print: (line: string) => void) => Promise<void>

export const benches: Record<string, Bench> = {
  eventstore: benchEventStore,
  fanout: benchFanout,
  loop: benchLoop,
  tunnel: benchTunnel,
}

/** Runs the named benches (all when `only` is empty), printing each one's report lines. */
export async function runBenches(print: (line: string) => void, only: readonly string[] = []): Promise<void> {
  const unknown = only.filter((name) => !(name in benches))
  if (unknown.length) throw new Error(`unknown bench: ${unknown.join(', ')}; known: ${Object.keys(benches).join(', ')}`)
  for (const [name, bench] of Object.entries(benches)) {
    if (only.length && !only.includes(name)) continue
    print(`== ${name}`)
    await bench(print)
  }
}
