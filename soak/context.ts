// What every fault of the soak works with, and what each reports.
import type { Database } from '../src/db/database.ts'
import type { EventStore } from '../src/eventstore/types.ts'
import { checkChats, commandRuns } from './checks.ts'
import type { SoakDatabase } from './cluster.ts'
import type { Fleet, Served } from './fleet.ts'
import type { ChatLoad } from './load.ts'
import type { SoakModel } from './model.ts'

export interface SoakContext {
  fleet: Fleet
  /** The API process (CAIRN_RUNNER=off): every mutation goes through it. It is never killed. */
  api: Served
  /** Runner processes by slot; a killed one is replaced in its slot. */
  runners: Map<string, Served>
  /** The soak's own connection to the database, and the store on it (for reading and verifying the log). */
  db: Database
  store: EventStore
  database: SoakDatabase
  model: SoakModel
  /** A local workspace of runner slot `r1`, where commands run. */
  workspace: { id: string; folder: string }
  /** Progress lines (stderr). */
  log(line: string): void
}

/** One row of the table. The must-be-0 columns are lost, twice, chains, leaks and failures. */
export interface FaultResult {
  fault: string
  runs: number
  injected: number
  lost: number
  twice: number
  chains: number
  leaks: number
  /** Other must-be-0 failures: unsettled chats, two runners in one turn, unclear errors… (named in notes). */
  failures: number
  notes: string[]
  /** Takeover times after a runner was killed, ms. */
  takeoversMs?: number[]
  /** Set when the fault could not be injected at all: a clear line in the table, never silence. */
  skipped?: string
}

/** Counts `n` failures of a kind (nothing when 0) and names them in the row's notes. */
export function fail(result: FaultResult, n: number, what: string): void {
  if (!n) return
  result.failures += n
  result.notes.push(n === 1 ? what : `${n} × ${what}`)
}

export function emptyResult(fault: string): FaultResult {
  return { fault, runs: 0, injected: 0, lost: 0, twice: 0, chains: 0, leaks: 0, failures: 0, notes: [] }
}

/** Settles the chats a fault touched and adds what the log and the workspaces say to the row. */
export async function addChatChecks(ctx: SoakContext, result: FaultResult, load: ChatLoad, settleMs = 90_000): Promise<void> {
  const checks = await checkChats(ctx.db, ctx.store, load.chats, load.acks, settleMs)
  result.lost += checks.lost
  result.chains += checks.chains
  const runs = commandRuns([...new Set(ctx.fleet.started.map((s) => ctx.fleet.dataDir(s.slot)))])
  for (const chatId of load.chats) for (const nonce of ctx.model.commandsByChat.get(load.labelOf(chatId)!) ?? []) if ((runs.get(nonce) ?? 0) > 1) result.twice++
  fail(result, checks.unsettled.length, `a chat never settled (${checks.unsettled.slice(0, 3).join(', ')})`)
  fail(result, checks.twoRunners.length, `a chat written by two runners in one turn (${checks.twoRunners.slice(0, 3).join(', ')})`)
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
