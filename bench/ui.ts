// The web UI under a stream, measured in Chromium with the Performance API against the real server
// (PGlite) and the scripted fake LLM:
// - time from sendMessage to the first streamed character painted (the composer marks
//   `cairn:send`, the chat view `cairn:first-character-painted` in the frame after it renders),
//   beside its baseline: the same wait for a bare graphql-ws client in Node to receive the first
//   TextDelta (the API's part alone);
// - frames dropped while 5,000 deltas stream (requestAnimationFrame gaps longer than a frame),
//   beside the frames dropped by the same page for as long with nothing streaming.
import { createClient } from 'graphql-ws'
import WebSocket from 'ws'
import { findChromium, launchChromium, signedInPage, startUiServer } from '../test/web/browser.ts'
import type { Report } from './report.ts'

const ROUNDS = 5
const DELTAS = 5000

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? NaN
const ms = (n: number) => n.toFixed(1)

export async function benchUi(print: Report): Promise<void> {
  if (!findChromium()) {
    print('skipped: no Chromium (apt-get install -y chromium, or set CHROMIUM_PATH)')
    return
  }
  const ui = await startUiServer()
  const browser = await launchChromium()
  try {
    const user = await ui.h.user('bench@example.com', 'member')
    const gql = async (query: string, variables: Record<string, unknown>) => {
      const res = await fetch(`${ui.url}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${user.token}` },
        body: JSON.stringify({ query, variables }),
      })
      const body = (await res.json()) as { data?: any; errors?: { message: string }[] }
      if (body.errors) throw new Error(body.errors.map((e) => e.message).join('; '))
      return body.data
    }
    const quick = { text: 'Ready when you are: '.repeat(5), textPieces: 10 }

    // Baseline: sendMessage to the first TextDelta in a bare graphql-ws client.
    ui.h.script('baseline', Array.from({ length: ROUNDS + 1 }, () => quick))
    const baselineChat = (await gql('mutation { createChat(input: { title: "baseline", firstMessage: "baseline" }) { id } }', {})).createChat.id as string
    await ui.h.waitFor(baselineChat, (es) => es.some((e) => e.type === 'TurnCompleted'))
    const ws = createClient({ url: ui.url.replace(/^http/, 'ws') + '/graphql', webSocketImpl: WebSocket, connectionParams: { authorization: `Bearer ${user.token}` } })
    const baseline: number[] = []
    for (let i = 0; i < ROUNDS; i++) {
      let sentAt = 0
      const first = new Promise<number>((resolve, reject) => {
        const stop = ws.subscribe<{ chatStream: { __typename: string } }>(
          { query: 'subscription($c: ID!, $r: Int) { chatStream(chatId: $c, fromRevision: $r) { __typename } }', variables: { c: baselineChat, r: 1_000_000 } },
          {
            next: (r) => {
              if (r.data?.chatStream.__typename === 'TextDelta' && sentAt) {
                resolve(performance.now() - sentAt)
                stop()
              }
            },
            error: reject,
            complete: () => {},
          },
        )
      })
      await new Promise((r) => setTimeout(r, 200)) // the subscription is live
      sentAt = performance.now()
      await gql('mutation($c: ID!) { sendMessage(input: { chatId: $c, text: "again" }) { messageId } }', { c: baselineChat })
      baseline.push(await first)
      await ui.h.waitFor(baselineChat, (es) => es.filter((e) => e.type === 'TurnCompleted').length >= i + 2)
    }
    await ws.dispose()

    // The browser: the same sends through the composer.
    ui.h.script('paint', Array.from({ length: ROUNDS + 1 }, () => quick))
    const paintChat = (await gql('mutation { createChat(input: { title: "paint", firstMessage: "paint" }) { id } }', {})).createChat.id as string
    await ui.h.waitFor(paintChat, (es) => es.some((e) => e.type === 'TurnCompleted'))
    const { page, context } = await signedInPage(browser, ui.url, user.token)
    await page.goto(`/chats/${paintChat}`)
    await page.locator('.turn-end').first().waitFor()
    const painted: number[] = []
    for (let i = 0; i < ROUNDS; i++) {
      await page.evaluate(() => performance.clearMarks())
      await page.getByLabel('message').fill('again')
      await page.getByLabel('message').press('Enter')
      await page.locator('.turn-end').nth(i + 1).waitFor()
      painted.push(
        await page.evaluate(() => {
          const send = performance.getEntriesByName('cairn:send')[0]!.startTime
          const paint = performance.getEntriesByName('cairn:first-character-painted').find((m) => m.startTime >= send)!.startTime
          return paint - send
        }),
      )
    }

    // Frames dropped: a rAF loop counts the frames a gap skipped, first idle, then while 5,000 deltas stream.
    // A string, not a function: tsx's transform would name the inner function with a helper the page lacks.
    const countFrames = () =>
      page.evaluate(`{
        const f = (window.__frames = { last: 0, frames: 0, dropped: 0, on: true })
        const tick = (t) => {
          if (!f.on) return
          if (f.last) {
            f.frames++
            f.dropped += Math.max(0, Math.round((t - f.last) / (1000 / 60)) - 1)
          }
          f.last = t
          requestAnimationFrame(tick)
        }
        requestAnimationFrame(tick)
      }`)
    const stopFrames = () =>
      page.evaluate(() => {
        const f = (window as unknown as { __frames: { frames: number; dropped: number; on: boolean } }).__frames
        f.on = false
        return { frames: f.frames, dropped: f.dropped }
      })
    // Text as a model writes it: paragraphs of 50 words.
    const paragraphs = Array.from({ length: DELTAS / 50 }, (_, i) => `Paragraph ${i}: ` + 'token '.repeat(49)).join('\n\n')
    ui.h.script('stream', [{ text: paragraphs, textPieces: DELTAS, chunkDelayMs: 1 }])
    const streamChat = (await gql('mutation { createChat(input: { title: "stream" }) { id } }', {})).createChat.id as string
    await page.goto(`/chats/${streamChat}`)
    await page.getByLabel('message').waitFor()
    await page.getByLabel('message').fill('stream')
    const started = performance.now()
    await countFrames()
    await page.getByLabel('message').press('Enter')
    await page.locator('.turn-end').first().waitFor({ timeout: 300_000 })
    const streaming = await stopFrames()
    const seconds = (performance.now() - started) / 1000
    await countFrames()
    await page.waitForTimeout(seconds * 1000)
    const idle = await stopFrames()
    await context.close()

    const paintMedian = median(painted)
    const baseMedian = median(baseline)
    print(`sendMessage → first character painted: median ${ms(paintMedian)} ms over ${ROUNDS} sends (bare graphql-ws client, first TextDelta received: ${ms(baseMedian)} ms; ×${(paintMedian / baseMedian).toFixed(2)})`)
    print(`${DELTAS} deltas streamed in ${seconds.toFixed(1)} s: ${streaming.dropped} frames dropped of ${streaming.frames + streaming.dropped} (idle page for as long: ${idle.dropped} of ${idle.frames + idle.dropped})`)
    print.figure('first_character_painted_ms', paintMedian, baseMedian)
    print.figure('frames_dropped_5000_deltas', streaming.dropped, idle.dropped)
  } finally {
    await browser.close()
    await ui.close()
  }
}
