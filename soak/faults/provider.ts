// Fault 4: the fake provider answers a share of the model calls with 429, 500, 529, a cut stream,
// silence, or a malformed chunk. Each must be retried (RetryScheduled) or end the turn in a TurnFailed
// that says what happened — one or the other for every fault, nothing left hanging.
import { addChatChecks, emptyResult, fail, sleep, type FaultResult, type SoakContext } from '../context.ts'
import { ChatLoad } from '../load.ts'

const SHARE = 0.25

function clear(message: unknown): boolean {
  return typeof message === 'string' && message.length > 10 && !/undefined|\[object /.test(message)
}

export async function providerFaults(ctx: SoakContext, until: number): Promise<FaultResult> {
  const result = emptyResult('4 provider faults')
  const callsBefore = ctx.model.calls
  const load = new ChatLoad(ctx.fleet, ctx.api, ctx.db, { plans: ['busy', 'text'], busy: 5, maxChats: 40, faults: SHARE }).start()
  // Until the time is up and every kind of fault had a chance (bounded).
  const injected = () => load.chats.reduce((n, c) => n + (ctx.model.faultsByChat.get(load.labelOf(c)!)?.length ?? 0), 0)
  const hardStop = Math.max(until, Date.now() + 60_000)
  while ((Date.now() < until || injected() < 6) && Date.now() < hardStop) await sleep(250)
  await load.stop()
  result.runs = ctx.model.calls - callsBefore
  await addChatChecks(ctx, result, load)
  let unaccounted = 0
  let unclear = 0
  const byKind = new Map<string, number>()
  for (const chatId of load.chats) {
    const faults = ctx.model.faultsByChat.get(load.labelOf(chatId)!) ?? []
    for (const f of faults) byKind.set(f, (byKind.get(f) ?? 0) + 1)
    result.injected += faults.length
    const events = await ctx.store.readStream(`chat-${chatId}`)
    const outcomes = events.filter((e) => e.type === 'RetryScheduled' || e.type === 'TurnFailed')
    for (const e of outcomes) if (!clear((e.data as { message?: unknown }).message)) unclear++
    if (outcomes.length !== faults.length) unaccounted += Math.abs(outcomes.length - faults.length)
  }
  fail(result, unaccounted, 'a fault without exactly one RetryScheduled or TurnFailed')
  fail(result, unclear, 'a retry or failure message that is not clear')
  result.notes.push([...byKind].map(([k, n]) => `${k}×${n}`).join(' '))
  return result
}
