// Faults 1 and 2: runner processes killed with SIGKILL at random points of busy turns.
//  1. One runner (with the workspace): killed and started again in its slot; the commands it had
//     started are found by their tool-call id on the workspace daemon, never run again.
//  2. Two runners: one is killed, the other takes its chats over when their leases run out.
import type { Database } from '../../src/db/database.ts'
import { percentile, waitUntil } from '../checks.ts'
import { addChatChecks, emptyResult, fail, sleep, type FaultResult, type SoakContext } from '../context.ts'
import type { Served } from '../fleet.ts'
import { ChatLoad } from '../load.ts'

/** Chats this runner holds a live lease on that still need a runner (optionally: with a turn running). */
async function heldChats(db: Database, runnerId: string, running = false): Promise<string[]> {
  const rows = await db.query<{ chat_id: string }>(
    `select l.chat_id from chat_leases l join chats c on c.id = l.chat_id
      where l.owner = $1 and l.expires_at > now() and c.needs_runner ${running ? `and c.status = 'running'` : ''}`,
    [runnerId],
  )
  return rows.map((r) => r.chat_id)
}

/** Milliseconds from the kill to the first event another runner appended to the chat; null if none came in time. */
async function takeoverMs(db: Database, chatId: string, victim: string, killedAt: number, timeoutMs: number): Promise<number | null> {
  let found: number | null = null
  await waitUntil(async () => {
    const [row] = await db.query<{ at: string }>(
      `select extract(epoch from created_at) * 1000 as at from events
        where stream = $1 and created_at >= to_timestamp($2 / 1000.0)
          and metadata->>'runnerId' is not null and metadata->>'runnerId' <> $3
        order by revision limit 1`,
      [`chat-${chatId}`, killedAt, victim],
    )
    if (row) found = Number(row.at) - killedAt
    return row !== undefined
  }, timeoutMs, 50)
  return found
}

/** Waits for a runner to be mid-turn, then a random moment more, and kills it; returns what it held. */
async function killMidTurn(ctx: SoakContext, victim: Served): Promise<{ held: string[]; killedAt: number } | null> {
  if (!(await waitUntil(async () => (await heldChats(ctx.db, victim.runnerId!, true)).length > 0, 20_000, 100))) return null
  await sleep(Math.random() * 1500)
  const held = await heldChats(ctx.db, victim.runnerId!)
  const killedAt = Date.now()
  await ctx.fleet.kill(victim)
  return { held, killedAt }
}

export async function singleRunnerKills(ctx: SoakContext, until: number, maxKills: number): Promise<FaultResult> {
  const result = emptyResult('1 runner SIGKILL mid-turn')
  const load = new ChatLoad(ctx.fleet, ctx.api, ctx.db, { plans: ['tools', 'tools', 'busy'], busy: 4, maxChats: 40, workspaceId: ctx.workspace.id }).start()
  const backAfter: number[] = []
  do {
    const victim = ctx.runners.get('r1')!
    const kill = await killMidTurn(ctx, victim)
    if (!kill) {
      fail(result, 1, 'the runner never had a turn running to kill')
      break
    }
    result.injected++
    ctx.log(`fault 1: killed ${victim.runnerId} holding ${kill.held.length} chat(s); starting it again`)
    ctx.runners.set('r1', await ctx.fleet.start('r1', 'runner'))
    for (const chatId of kill.held) {
      const ms = await takeoverMs(ctx.db, chatId, victim.runnerId!, kill.killedAt, 30_000)
      if (ms !== null) backAfter.push(ms)
    }
  } while (Date.now() < until && result.injected < maxKills)
  await load.stop()
  result.runs = load.chats.length
  await addChatChecks(ctx, result, load)
  if (backAfter.length) result.notes.push(`chats back ${(percentile(backAfter, 50) / 1000).toFixed(1)} s (p50) after the kill, the process's restart included`)
  if (load.refused) result.notes.push(`${load.refused} message(s) refused`)
  return result
}

export async function twoRunnerTakeovers(ctx: SoakContext, until: number, maxKills: number): Promise<FaultResult> {
  const result = emptyResult('2 two runners, one killed')
  result.takeoversMs = []
  if (!ctx.runners.has('r2')) ctx.runners.set('r2', await ctx.fleet.start('r2', 'runner'))
  const load = new ChatLoad(ctx.fleet, ctx.api, ctx.db, { plans: ['busy', 'busy', 'text'], busy: 6, maxChats: 60 }).start()
  let restarting: Promise<void> = Promise.resolve()
  let notTakenOver = 0
  do {
    await restarting
    const slots = [...ctx.runners.keys()]
    const slot = slots[Math.floor(Math.random() * slots.length)]!
    const victim = ctx.runners.get(slot)!
    const kill = await killMidTurn(ctx, victim)
    if (!kill) {
      fail(result, 1, `runner ${slot} never had a turn running to kill`)
      break
    }
    result.injected++
    // The slot is filled again meanwhile; the other runner is the one expected to take over.
    restarting = ctx.fleet.start(slot, 'runner').then((s) => void ctx.runners.set(slot, s))
    const times = await Promise.all(kill.held.map((chatId) => takeoverMs(ctx.db, chatId, victim.runnerId!, kill.killedAt, 30_000)))
    for (const ms of times) if (ms === null) notTakenOver++
    else result.takeoversMs.push(ms)
    ctx.log(`fault 2: killed ${slot}, ${kill.held.length} chat(s) taken over in ${times.map((t) => (t === null ? '∞' : `${(t / 1000).toFixed(1)}s`)).join(' ')}`)
  } while (Date.now() < until && result.injected < maxKills)
  await restarting
  await load.stop()
  result.runs = load.chats.length
  fail(result, notTakenOver, 'a chat not taken over within 30 s')
  await addChatChecks(ctx, result, load)
  // The rest of the soak runs one runner: the workspace's commands run where its daemon is.
  await ctx.fleet.stop(ctx.runners.get('r2')!)
  ctx.runners.delete('r2')
  return result
}
