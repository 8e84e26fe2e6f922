// Fault 7: slow subscribers. One in ten chatStream subscribers reads nothing; long answers stream to
// all of them. The slow ones must be cut with close code 4008 (their buffers bounded, the server's
// memory too), and the others must keep their latency and miss nothing.
import WebSocket from 'ws'
import { SLOW_SUBSCRIBER_CLOSE_CODE } from '../../src/api/subscriptions.ts'
import { DEFAULT_SUBSCRIPTION_BUFFER } from '../../src/live/bounded.ts'
import { percentile, unsettledChats, waitUntil } from '../checks.ts'
import { addChatChecks, emptyResult, fail, type FaultResult, type SoakContext } from '../context.ts'
import { metricOf, residentBytes } from '../fleet.ts'
import { ChatLoad } from '../load.ts'

const SUBSCRIBERS = 20
const SLOW_EVERY = 10
/** Answers streamed with the slow subscribers at most (they are usually cut after a few). */
const MAX_ANSWERS = 10
/** KiB of text per answer. */
const ANSWER_KIB = 1024
const STREAM = `subscription($id: ID!) { chatStream(chatId: $id, fromRevision: 0) {
  __typename ... on ChatEventItem { event { revision occurredAt data } } ... on TextDelta { delta } } }`

interface Subscriber {
  slow: boolean
  socket: WebSocket
  revisions: number[]
  /** Latency of each live event (stored before the subscription: not counted), by when it arrived. */
  latencies: { at: number; ms: number }[]
  closeCode: number | null
}

function subscribe(ctx: SoakContext, chatId: string, slow: boolean): Promise<Subscriber> {
  const socket = new WebSocket(ctx.api.url.replace(/^http/, 'ws') + '/graphql', 'graphql-transport-ws')
  const sub: Subscriber = { slow, socket, revisions: [], latencies: [], closeCode: null }
  const since = Date.now()
  socket.on('close', (code) => (sub.closeCode = code))
  return new Promise((resolve, reject) => {
    socket.on('error', reject)
    socket.on('open', () => socket.send(JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${ctx.fleet.adminToken}` } })))
    socket.on('message', (raw) => {
      const msg = JSON.parse(raw.toString()) as { type: string; payload?: { data?: { chatStream?: { event?: { revision: number; occurredAt: string } } } } }
      if (msg.type === 'connection_ack') {
        socket.send(JSON.stringify({ id: '1', type: 'subscribe', payload: { query: STREAM, variables: { id: chatId } } }))
        // A slow subscriber reads nothing more: the kernel's buffers fill, then the server's.
        if (slow) (socket as unknown as { _socket: { pause(): void } })._socket.pause()
        resolve(sub)
      }
      const event = msg.payload?.data?.chatStream?.event
      if (msg.type === 'next' && event) {
        sub.revisions.push(event.revision)
        const occurred = Date.parse(event.occurredAt)
        if (occurred >= since) sub.latencies.push({ at: Date.now(), ms: Date.now() - occurred })
      }
    })
  })
}


export async function slowSubscribers(ctx: SoakContext): Promise<FaultResult> {
  const result = emptyResult('7 slow subscribers')
  const load = new ChatLoad(ctx.fleet, ctx.api, ctx.db, { plans: ['big'], busy: 0, maxChats: 1, answerKiB: ANSWER_KIB })
  const label = 'slowsubs'
  const turn = async () => {
    const chatId = load.chats[0]
    const sent = chatId ? await load.sendMessage(chatId) : await load.createChat({ chat: label, plan: 'big', steps: ANSWER_KIB, delayMs: 1, faults: 0 })
    await waitUntil(async () => (await unsettledChats(ctx.db, load.chats)).length === 0, 60_000, 200)
    return sent
  }
  // Baseline: the fast subscribers alone, through one answer.
  await turn()
  const chatId = load.chats[0]!
  const rssBefore = residentBytes(ctx.api.child.pid!)
  const subs: Subscriber[] = []
  for (let i = 0; i < SUBSCRIBERS; i++) if (i % SLOW_EVERY !== 0) subs.push(await subscribe(ctx, chatId, false))
  await turn()
  const baselineEnd = Date.now()
  const marks = [baselineEnd]
  const cutBefore = await metricOf(ctx.api, 'cairn_subscriptions_cut_total')
  const cut = async () => (await metricOf(ctx.api, 'cairn_subscriptions_cut_total')) - cutBefore
  for (let i = 0; i < SUBSCRIBERS; i += SLOW_EVERY) subs.push(await subscribe(ctx, chatId, true))
  const slow = subs.filter((s) => s.slow)
  result.runs = subs.length
  result.injected = slow.length
  // With the slow ones: answers until every slow one is cut (bounded), at least two.
  let turns = 0
  let rssPeak = rssBefore
  while ((turns < 4 || (await cut()) < slow.length) && turns < MAX_ANSWERS) {
    await load.sendMessage(chatId)
    await waitUntil(async () => {
      rssPeak = Math.max(rssPeak, residentBytes(ctx.api.child.pid!))
      return (await unsettledChats(ctx.db, [chatId])).length === 0
    }, 60_000, 200)
    turns++
    const since = marks.at(-1)!
    marks.push(Date.now())
    const window = subs.filter((s) => !s.slow).flatMap((s) => s.latencies.filter((l) => l.at > since).map((l) => l.ms))
    ctx.log(`fault 7: answer ${turns} streamed; ${await cut()} of ${slow.length} slow subscriber(s) cut; readers' p50/p99 ${percentile(window, 50)}/${percentile(window, 99)} ms`)
  }
  // The server cut them with 4008 (cairn_subscriptions_cut_total counts exactly those closes). A client that
  // reads nothing cannot read that close frame behind what it did not read: it sees the connection dropped.
  await waitUntil(async () => (await cut()) >= slow.length, 15_000, 250)
  for (const s of slow) (s.socket as unknown as { _socket: { resume(): void } })._socket.resume()
  await waitUntil(async () => slow.every((s) => s.closeCode !== null), 30_000, 200)
  const serverCuts = await cut()
  const highWater = await metricOf(ctx.api, 'cairn_subscription_buffer_high_water')
  const [head] = await ctx.db.query<{ revision: string }>('select revision from streams where stream = $1', [`chat-${chatId}`])
  const fast = subs.filter((s) => !s.slow)
  await waitUntil(async () => fast.every((s) => s.revisions.at(-1) === Number(head!.revision)), 10_000, 100)
  const notCut = Math.max(0, slow.length - serverCuts) + slow.filter((s) => s.closeCode === null).length
  const fastCut = fast.filter((s) => s.closeCode !== null).length
  const gaps = fast.filter((s) => s.revisions.some((r, i) => r !== i) || s.revisions.length !== Number(head!.revision) + 1).length
  const base = fast.flatMap((s) => s.latencies.filter((l) => l.at <= baselineEnd).map((l) => l.ms))
  const loaded = fast.flatMap((s) => s.latencies.filter((l) => l.at > baselineEnd).map((l) => l.ms))
  const p99Base = percentile(base, 99)
  const p99Loaded = percentile(loaded, 99)
  for (const s of subs) s.socket.terminate()
  fail(result, notCut, `a slow subscriber not cut (${serverCuts} cut with ${SLOW_SUBSCRIBER_CLOSE_CODE} by the server; the clients saw ${slow.map((s) => s.closeCode ?? 'nothing').join(', ')})`)
  if (!(highWater <= DEFAULT_SUBSCRIPTION_BUFFER)) {
    result.leaks++
    result.notes.push(`a subscription buffer held ${highWater} items (capacity ${DEFAULT_SUBSCRIPTION_BUFFER})`)
  }
  fail(result, fastCut, 'a reading subscriber disconnected')
  fail(result, gaps, 'a reading subscriber missed events')
  // The others keep their latency: p99 within 3× of the same subscribers' without slow ones (+100 ms for a noisy machine).
  if (p99Loaded > 3 * p99Base + 100) fail(result, 1, `reading subscribers' p99 latency went from ${p99Base} to ${p99Loaded} ms`)
  const grown = rssPeak - rssBefore
  if (grown > 512 * 2 ** 20) {
    result.leaks++
    result.notes.push(`the API process grew ${(grown / 2 ** 20).toFixed(0)} MiB with slow subscribers`)
  }
  result.notes.push(
    `${turns} answers of ${ANSWER_KIB} KiB; ${serverCuts} cut with ${SLOW_SUBSCRIBER_CLOSE_CODE} (the clients saw ${slow.map((s) => s.closeCode).join(', ')}); reading p99 ${p99Base} → ${p99Loaded} ms; buffer high water ${highWater}; API resident +${(grown / 2 ** 20).toFixed(0)} MiB at peak`,
  )
  await addChatChecks(ctx, result, load)
  return result
}
