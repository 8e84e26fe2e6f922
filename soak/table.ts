// The one table the soak prints, and whether every must-be-0 is 0.
import { formatTable } from '../src/cli/table.ts'
import { percentile } from './checks.ts'
import type { FaultResult } from './context.ts'

const seconds = (ms: number) => (Number.isNaN(ms) ? '—' : `${(ms / 1000).toFixed(1)} s`)

/** Prints the table; true when nothing that must be 0 is not. */
export function printTable(print: (line: string) => void, results: readonly FaultResult[], run: { minutes: number }): boolean {
  const rows = results.map((r) =>
    r.skipped
      ? [r.fault, 'SKIPPED', '', '', '', '', '', '']
      : [r.fault, String(r.runs), String(r.injected), String(r.lost), String(r.twice), String(r.chains), String(r.leaks), String(r.failures)],
  )
  const sum = (pick: (r: FaultResult) => number) => String(results.reduce((n, r) => n + pick(r), 0))
  rows.push(['total', sum((r) => r.runs), sum((r) => r.injected), sum((r) => r.lost), sum((r) => r.twice), sum((r) => r.chains), sum((r) => r.leaks), sum((r) => r.failures)])
  print('')
  for (const line of formatTable(['fault', 'runs', 'injected', 'events lost', 'run twice', 'chains failing', 'leaks', 'other failures'], rows)) print(line)
  const takeovers = results.flatMap((r) => r.takeoversMs ?? [])
  print('')
  print(`takeover of a killed runner's chats: p50 ${seconds(percentile(takeovers, 50))}, max ${seconds(takeovers.length ? Math.max(...takeovers) : NaN)} (${takeovers.length} chats)`)
  for (const r of results) {
    if (r.skipped) print(`${r.fault}: SKIPPED — ${r.skipped}`)
    for (const note of r.notes) print(`${r.fault}: ${note}`)
  }
  const bad = results.some((r) => r.lost || r.twice || r.chains || r.leaks || r.failures)
  print('')
  print(`${bad ? 'FAIL' : 'PASS'}: ${run.minutes.toFixed(1)} minutes; events lost, commands run twice, chains failing, leaks and other failures must all be 0`)
  return !bad
}
