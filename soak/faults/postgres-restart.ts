// Fault 3: the database restarted under load (a clean stop, or a crash), while messages keep coming.
// The servers must come back by themselves: /healthz says 503 while the database is away and 200
// after, every process LISTENs again, a client's live subscription goes on, nothing acknowledged is lost.
import { createClient } from 'graphql-ws'
import WebSocket from 'ws'
import { LISTENER_APPLICATION_NAME } from '../../src/db/database.ts'
import { waitUntil } from '../checks.ts'
import { addChatChecks, emptyResult, fail, sleep, type FaultResult, type SoakContext } from '../context.ts'
import type { Served } from '../fleet.ts'
import { ChatLoad } from '../load.ts'

const DOWN_MS = 1500
const BURST = 15

/** Messages to the chats every 100 ms (at most BURST) across the restart: writes acknowledged right before the stop must survive it. */
function messageBurst(load: ChatLoad): { stop(): Promise<void> } {
  let stopped = false
  const loop = (async () => {
    for (let sent = 0; !stopped && sent < BURST; sent++) {
      const chatId = load.chats[Math.floor(Math.random() * load.chats.length)]
      if (chatId) await load.sendMessage(chatId, 'text')
      await sleep(100)
    }
  })()
  return {
    async stop() {
      stopped = true
      await loop
    },
  }
}

/** Polls /healthz until stopped; remembers every status it saw. */
function watchHealth(s: Served): { statuses: Set<number>; stop(): Promise<void> } {
  const statuses = new Set<number>()
  let stopped = false
  const loop = (async () => {
    while (!stopped) {
      try {
        const res = await fetch(`${s.url}/healthz`, { signal: AbortSignal.timeout(3000) })
        statuses.add(res.status)
        await res.arrayBuffer()
      } catch {
        statuses.add(0) // no answer at all
      }
      await sleep(100)
    }
  })()
  return {
    statuses,
    async stop() {
      stopped = true
      await loop
    },
  }
}

export async function postgresRestarts(ctx: SoakContext, until: number): Promise<FaultResult> {
  const result = emptyResult('3 PostgreSQL restarted')
  const restart = ctx.database.restart
  if (!restart) {
    result.skipped = ctx.database.noRestartReason ?? 'the soak does not own the database server'
    return result
  }
  const load = new ChatLoad(ctx.fleet, ctx.api, ctx.db, { plans: ['tools', 'busy', 'text'], busy: 4, maxChats: 40, workspaceId: ctx.workspace.id, tickMs: 200 }).start()
  // A client's live subscription on one chat, across every restart.
  await waitUntil(async () => load.chats.length > 0, 20_000, 100)
  const watched = load.chats[0]
  const client = createClient({
    url: ctx.api.url.replace(/^http/, 'ws') + '/graphql',
    webSocketImpl: WebSocket,
    connectionParams: { authorization: `Bearer ${ctx.fleet.adminToken}` },
    retryAttempts: 0,
  })
  let lastRevision = -1
  let subscriptionError: string | null = null
  const unsubscribe = watched
    ? client.subscribe<{ chatEvents: { revision: number } }>(
        { query: `subscription($id: ID!) { chatEvents(chatId: $id) { revision } }`, variables: { id: watched } },
        {
          next: (msg) => void (lastRevision = Math.max(lastRevision, msg.data?.chatEvents.revision ?? -1)),
          error: (err) => void (subscriptionError = err instanceof Error ? err.message : JSON.stringify(err)),
          complete: () => void (subscriptionError ??= 'completed'),
        },
      )
    : () => {}
  let listenMissing = 0
  let no503 = 0
  let notBack = 0
  const recoveries: number[] = []
  do {
    await sleep(2000 + Math.random() * 2000)
    const mode = result.injected % 2 === 0 ? 'fast' : 'immediate'
    const servers = [ctx.api, ...ctx.runners.values()].filter((s) => s.alive())
    const watches = servers.map(watchHealth)
    const burst = messageBurst(load)
    let downAt = 0
    await restart(mode, DOWN_MS, () => (downAt = Date.now()))
    result.injected++
    const startedAt = Date.now()
    const healthy = await Promise.all(servers.map((s) => waitUntil(async () => (await fetch(`${s.url}/healthz`)).status === 200, 30_000, 100)))
    await burst.stop()
    recoveries.push(Date.now() - startedAt)
    for (const [i, w] of watches.entries()) {
      await w.stop()
      if (!w.statuses.has(503)) no503++
      if (!healthy[i]) notBack++
    }
    // Each process's LISTEN session is back (it reconnects with backoff; give it a few seconds).
    const listening = await waitUntil(async () => {
      const [row] = await ctx.db.query<{ n: number }>(
        `select count(*)::int as n from pg_stat_activity where datname = current_database() and application_name = $1`,
        [LISTENER_APPLICATION_NAME],
      )
      return (row?.n ?? 0) >= servers.length
    }, 15_000, 200)
    if (!listening) listenMissing++
    ctx.log(`fault 3: ${mode} restart, down ${((startedAt - downAt) / 1000).toFixed(1)} s, servers healthy ${((Date.now() - startedAt) / 1000).toFixed(1)} s later, LISTEN ${listening ? 'back' : 'MISSING'}`)
  } while (Date.now() < until)
  await load.stop()
  result.runs = load.chats.length
  await addChatChecks(ctx, result, load)
  // The subscriber saw the watched chat up to its last event.
  if (watched) {
    const [head] = await ctx.db.query<{ revision: string }>('select revision from streams where stream = $1', [`chat-${watched}`])
    await waitUntil(async () => lastRevision >= Number(head?.revision ?? -1), 10_000, 100)
    if (subscriptionError || lastRevision < Number(head?.revision ?? -1))
      fail(result, 1, `a live chatEvents subscription stopped at revision ${lastRevision} of ${head?.revision} (${subscriptionError ?? 'silent'})`)
  }
  unsubscribe()
  await client.dispose()
  fail(result, no503, '/healthz never said 503 while the database was away')
  fail(result, notBack, '/healthz not 200 within 30 s of the restart')
  fail(result, listenMissing, 'a LISTEN session did not come back within 15 s')
  result.notes.push(`healthy again ${(Math.max(...recoveries) / 1000).toFixed(1)} s (max) after each start; ${load.refused} message(s) refused while it was down`)
  return result
}
