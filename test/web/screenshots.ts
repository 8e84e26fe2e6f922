// `npm run screenshots`: the main screens of the web UI as PNGs in docs/screenshots/, taken in
// Chromium against a real server on PGlite with the scripted fake LLM (as the browser tests do).
import { mkdirSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import type { Page } from 'playwright-core'
import { findChromium, launchChromium, signedInPage, startUiServer } from './browser.ts'

const OUT = fileURLToPath(new URL('../../docs/screenshots/', import.meta.url))

const FIX = `The test failed because \`sum\` subtracted. I changed it to add, and the test passes now:

\`\`\`ts
export const sum = (a: number, b: number) => a + b
\`\`\`

Next I will look at the other helpers in \`math.ts\`, since they were written the same way and may have the same problem.`

async function main() {
  if (!findChromium()) throw new Error('no Chromium: apt-get install -y chromium (or set CHROMIUM_PATH)')
  mkdirSync(OUT, { recursive: true })
  const ui = await startUiServer()
  const browser = await launchChromium()
  try {
    const alice = await ui.h.user('alice@example.com', 'member')
    const auditor = await ui.h.user('auditor@example.com', 'auditor')
    const shot = async (page: Page, name: string) => {
      await page.waitForTimeout(300) // let the last frame paint
      await page.screenshot({ path: `${OUT}${name}.png`, fullPage: false })
      console.log(`wrote docs/screenshots/${name}.png`)
    }

    const gql = async (query: string, variables: Record<string, unknown>) => {
      const res = await fetch(`${ui.url}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${alice.token}` },
        body: JSON.stringify({ query, variables }),
      })
      return ((await res.json()) as { data: any }).data
    }
    // A few finished chats, titled as a person would, so the list has something in it.
    for (const [title, answer] of [
      ['Add a health check endpoint', 'Added `GET /healthz`.'],
      ['Why does the CI job time out?', 'The integration suite waits on a port nobody opens.'],
      ['Rename the config loader', 'Renamed `loadCfg` to `loadConfig` in 4 files.'],
    ] as const) {
      ui.h.script(title, [{ text: answer }])
      const { createChat } = await gql('mutation($t: String!) { createChat(input: { title: $t, firstMessage: $t }) { id } }', { t: title })
      await ui.h.waitFor(createChat.id, (es) => es.some((e) => e.type === 'TurnCompleted'))
    }

    ui.h.script('Fix the failing sum test', [
      { toolCalls: [{ id: 'w1', name: 'write_file', arguments: { path: 'sum.js', content: 'module.exports = (a, b) => a - b\n' } }] },
      { toolCalls: [{ id: 'x1', name: 'execute', arguments: { command: 'node -e "console.log(require(\'./sum.js\')(2, 3))"' } }] },
      { toolCalls: [{ id: 'e1', name: 'edit_files', arguments: { edits: [{ path: 'sum.js', old_text: 'a - b', new_text: 'a + b' }] } }] },
      { toolCalls: [{ id: 'x2', name: 'execute', arguments: { command: 'node -e "console.log(require(\'./sum.js\')(2, 3))"' } }] },
      { text: FIX, textPieces: 400, chunkDelayMs: 60 },
    ])
    const { page, context } = await signedInPage(browser, ui.url, alice.token, { width: 1200, height: 1000 })
    await page.goto('/')
    await page.getByLabel('first message').fill('Fix the failing sum test')
    await page.getByRole('button', { name: 'Start chat' }).click()
    await page.waitForURL(/\/chats\//)
    const chatPath = new URL(page.url()).pathname
    await gql('mutation($c: ID!) { renameChat(chatId: $c, title: "Fix the failing sum test") { id } }', { c: chatPath.split('/')[2] })
    await page.locator('.msg.assistant.live .markdown.streaming').waitFor({ timeout: 120_000 })
    await page.waitForFunction(() => (document.querySelector('.msg.assistant.live .markdown.streaming')?.textContent ?? '').length > 120)
    await page.getByLabel('message').fill('Also add a test for negative numbers')
    await page.getByLabel('message').press('Enter')
    await page.getByRole('region', { name: 'queued messages' }).waitFor()
    await page.evaluate(() => scrollTo(0, document.body.scrollHeight))
    await shot(page, 'chat-streaming')
    await page.getByRole('button', { name: 'Stop' }).click()
    await page.locator('.chat-meta .status', { hasText: 'waiting' }).waitFor({ timeout: 60_000 })

    await page.goto('/')
    await page.locator('.chat-link').nth(3).waitFor()
    await shot(page, 'chat-list')

    await page.goto(`${chatPath}/timeline`)
    await page.locator('td.type', { hasText: 'ToolCallCompleted' }).first().waitFor()
    await shot(page, 'timeline')
    await context.close()

    const admin = await signedInPage(browser, ui.url, ui.adminToken, { width: 1200, height: 800 })
    await admin.page.goto('/admin')
    await admin.page.getByRole('cell', { name: 'Fake model' }).waitFor()
    await shot(admin.page, 'admin-models')
    await admin.context.close()

    const audit = await signedInPage(browser, ui.url, auditor.token, { width: 1200, height: 900 })
    await audit.page.goto('/audit')
    await audit.page.locator('.audit td.type').first().waitFor()
    await shot(audit.page, 'audit-log')
    await audit.page.goto(chatPath)
    await audit.page.getByText('read-only').waitFor()
    await audit.page.locator('.tool-card[data-tool="edit_files"]').waitFor()
    await shot(audit.page, 'auditor-chat')
    await audit.context.close()

    const phone = await signedInPage(browser, ui.url, alice.token, { width: 390, height: 844 })
    await phone.page.goto(chatPath)
    await phone.page.locator('.tool-card[data-tool="edit_files"]').waitFor()
    await phone.page.locator('.tool-card[data-tool="edit_files"]').scrollIntoViewIfNeeded()
    await shot(phone.page, 'phone-chat')
    await phone.context.close()

    const dark = await signedInPage(browser, ui.url, alice.token, { width: 1200, height: 900 }, 'dark')
    await dark.page.goto(chatPath)
    await dark.page.locator('.tool-card[data-tool="edit_files"]').waitFor()
    await shot(dark.page, 'dark-chat')
    await dark.context.close()
  } finally {
    await browser.close()
    await ui.close()
  }
}

await main()
