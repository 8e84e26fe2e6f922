// What the soak checks after each fault, from the log and the workspaces — never from what the
// servers say about themselves.
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Database } from '../src/db/database.ts'
import type { EventStore, StoredEvent } from '../src/eventstore/types.ts'
import { RUNS_LOG } from './model.ts'

/** A mutation the API acknowledged: its message (by the nonce in its text) must be in the chat's log. */
export interface Ack {
  chatId: string
  nonce: string
}

export interface ChatChecks {
  lost: number
  chains: number
  /** Chats that ended unsettled, or where two runners wrote in one turn. */
  unsettled: string[]
  twoRunners: string[]
}

const RUNNER_TURN_OWNERS = new Set(['TurnStarted', 'TurnResumed'])
const TURN_ENDS = new Set(['TurnCompleted', 'TurnInterrupted', 'TurnFailed'])

export async function waitUntil(done: () => Promise<boolean>, timeoutMs: number, everyMs = 250): Promise<boolean> {
  const end = Date.now() + timeoutMs
  for (;;) {
    try {
      if (await done()) return true
    } catch {
      // the database may be coming back
    }
    if (Date.now() >= end) return false
    await new Promise((r) => setTimeout(r, everyMs))
  }
}

/** Chats that still want a runner (or run a turn) per the chats read model. */
export async function unsettledChats(db: Database, chatIds: readonly string[]): Promise<string[]> {
  if (!chatIds.length) return []
  const rows = await db.query<{ id: string }>(
    `select id from chats where id = any($1::uuid[]) and (needs_runner or status in ('pending', 'running', 'interrupting'))`,
    [chatIds],
  )
  return rows.map((r) => r.id)
}

/** Waits (bounded) for the chats to settle, then checks what every fault must leave behind. */
export async function checkChats(db: Database, store: EventStore, chatIds: readonly string[], acks: readonly Ack[], settleMs: number): Promise<ChatChecks> {
  let unsettled: string[] = [...chatIds]
  await waitUntil(async () => (unsettled = await unsettledChats(db, chatIds)).length === 0, settleMs, 500)
  let lost = 0
  for (const ack of acks) {
    const rows = await db.query(`select 1 from events where stream = $1 and data::text like $2 limit 1`, [`chat-${ack.chatId}`, `%${ack.nonce}%`])
    if (!rows.length) lost++
  }
  let chains = 0
  const twoRunners: string[] = []
  for (const chatId of chatIds) {
    const stream = `chat-${chatId}`
    if (!(await store.verifyStream(stream)).ok) chains++
    if (writtenByTwoRunners(await store.readStream(stream))) twoRunners.push(chatId)
  }
  return { lost, chains, unsettled, twoRunners }
}

/** Whether a runner wrote into a turn another runner owned then (started or resumed it last). */
export function writtenByTwoRunners(events: readonly StoredEvent[]): boolean {
  let owner: string | null = null
  for (const e of events) {
    const runner = (e.metadata as { runnerId?: string }).runnerId ?? null
    if (RUNNER_TURN_OWNERS.has(e.type)) owner = runner
    else if (runner && owner && runner !== owner) return true
    if (TURN_ENDS.has(e.type)) owner = null
  }
  return false
}

/** How often the workspaces ran each command: each `execute` of the soak appends its own nonce to soak-runs.log. */
export function commandRuns(dataDirs: readonly string[]): Map<string, number> {
  const counts = new Map<string, number>()
  for (const dir of dataDirs) {
    const root = join(dir, 'workspaces')
    if (!existsSync(root)) continue
    for (const ws of readdirSync(root)) {
      const file = join(root, ws, RUNS_LOG)
      if (!existsSync(file)) continue
      for (const line of readFileSync(file, 'utf8').split('\n')) if (line.trim()) counts.set(line.trim(), (counts.get(line.trim()) ?? 0) + 1)
    }
  }
  return counts
}

export function percentile(values: readonly number[], p: number): number {
  if (!values.length) return NaN
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!
}
