// `npm run screenshots`: the main screens of the web UI as PNGs in docs/screenshots/, taken in
// Chromium against a real server on PGlite with the scripted fake LLM (as the browser tests do).
import { mkdirSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import type { Page } from 'playwright-core'
import { findChromium, launchChromium, signedInPage, startUiServer } from './browser.ts'
import { readyWorkspace, wireText, type WireMessage } from '../workspaces/harness.ts'

const OUT = fileURLToPath(new URL('../../docs/screenshots/', import.meta.url))

const FIX = `The test failed because \`sum\` subtracted. I changed it to add, and the test passes now:

\`\`\`ts
export const sum = (a: number, b: number) => a + b
\`\`\`

Next I will look at the other helpers in \`math.ts\`, since they were written the same way and may have the same problem.`

const PLAN = `# Plan: rate-limit the public API

## Why
Clients can hammer \`/graphql\` without bound; one bad script slowed everyone down last week.

## Steps
1. Add a token bucket per API token in \`src/api/rate-limit.ts\` (60 requests/min, burst 20).
2. Register it as a Fastify \`onRequest\` hook before the GraphQL plugin.
3. Answer \`429\` with \`Retry-After\`, and a GraphQL error code \`RATE_LIMITED\`.
4. Tests: a burst of 25 requests gets 5 refusals; the bucket refills after a second.

## Not in scope
Per-IP limits for unauthenticated requests.
`
const call = (id: string, name: string, args: unknown) => ({ toolCalls: [{ id, name, arguments: args }] })
const resultFor = (messages: WireMessage[], callId: string) => wireText(messages.find((m) => m.role === 'tool' && m.tool_call_id === callId) ?? { role: 'tool' })

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

    const gql = async (query: string, variables: Record<string, unknown>, token = alice.token) => {
      const res = await fetch(`${ui.url}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
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

    // Plan mode: a question with options, then a proposed plan, in a chat with a workspace.
    const workspaceId = await readyWorkspace(ui.h, alice.userId)
    const planPrompt = 'Plan rate limiting for the public API'
    ui.h.script(planPrompt, [
      call('q1', 'ask_user_question', {
        questions: [
          { header: 'Limit', question: 'How many requests per minute should one token get?', options: [{ label: '60', description: 'Enough for the CLI and the web UI' }, { label: '600', description: 'For scripts that poll' }] },
          { header: 'Storage', question: 'Where should the counters live?', options: [{ label: 'In memory', description: 'Per process; simplest, resets on restart' }, { label: 'PostgreSQL', description: 'Shared by all processes' }] },
        ],
      }),
      call('p1', 'write_file', { path: 'rate-limit.md', content: 'x' }),
      (m) => call('p2', 'write_file', { path: /plan file (\S+),/.exec(resultFor(m, 'p1'))?.[1] ?? 'missing', content: PLAN }),
      (m) => call('p3', 'propose_plan', { path: /wrote \d+ bytes to (\S+)/.exec(resultFor(m, 'p2'))?.[1] ?? 'missing' }),
    ])
    const { createChat: planChat } = await gql('mutation($t: String!, $w: ID!) { createChat(input: { title: $t, firstMessage: $t, workspaceId: $w, planMode: true }) { id } }', { t: planPrompt, w: workspaceId })
    const planning = await signedInPage(browser, ui.url, alice.token, { width: 1200, height: 1000 })
    await planning.page.goto(`/chats/${planChat.id}`)
    const question = planning.page.getByRole('region', { name: 'question' })
    await question.getByRole('radio').first().waitFor({ timeout: 60_000 })
    await question.locator('label.option', { hasText: 'Enough for the CLI' }).click()
    // Below the sticky chat header.
    await question.evaluate((card) => scrollTo(0, card.getBoundingClientRect().top + scrollY - 170))
    await shot(planning.page, 'question-card')
    await question.getByLabel('your own answer to Storage').fill('In memory for now, behind an interface')
    await question.getByRole('button', { name: 'Submit answers' }).click()
    const planCard = planning.page.getByRole('region', { name: 'proposed plan' })
    await planCard.waitFor({ timeout: 60_000 })
    await planning.page.locator('.chat-meta .status', { hasText: 'waiting' }).waitFor()
    await planning.page.evaluate(() => scrollTo(0, document.body.scrollHeight))
    await shot(planning.page, 'plan-card')
    await planning.context.close()

    // Governance: an approval policy holds a push; an MCP server with a write-only token.
    await gql('mutation($i: ApprovalPolicyInput!) { setApprovalPolicy(input: $i) { orgId } }', { i: { rules: [{ tool: 'execute', commandPattern: '\\bgit\\s+push\\b' }, { tool: 'mcp__deploy__*' }], expiresAfterSeconds: 1800 } }, ui.adminToken)
    await gql('mutation($i: McpServerInput!) { configureMcpServer(input: $i) { id } }', { i: { id: 'docs', url: 'https://mcp.example.com/docs', auth: { kind: 'BEARER', token: 'not-a-real-token' }, availability: 'DEFAULT_ON', allowInPlanMode: true } }, ui.adminToken)
    const pushPrompt = 'Bump the version to 1.4.0 and push it'
    ui.h.script(pushPrompt, [
      call('t1', 'execute', { command: 'echo 1.4.0 > VERSION && cat VERSION' }),
      call('t2', 'execute', { command: 'git push origin main --follow-tags' }),
      { text: 'Pushed.' },
    ])
    const { createChat: pushChat } = await gql('mutation($t: String!, $w: ID!) { createChat(input: { title: $t, firstMessage: $t, workspaceId: $w }) { id } }', { t: pushPrompt, w: workspaceId })
    const approving = await signedInPage(browser, ui.url, alice.token, { width: 1200, height: 800 })
    await approving.page.goto(`/chats/${pushChat.id}`)
    await approving.page.getByRole('region', { name: 'approval of execute' }).getByRole('button', { name: 'Approve', exact: true }).waitFor({ timeout: 60_000 })
    await approving.page.evaluate(() => scrollTo(0, document.body.scrollHeight))
    await shot(approving.page, 'approval-card')
    await approving.context.close()

    const governance = await signedInPage(browser, ui.url, ui.adminToken, { width: 1200, height: 1000 })
    await governance.page.goto('/admin')
    const policies = governance.page.getByRole('heading', { name: 'Approval policies' })
    await governance.page.getByRole('table', { name: 'MCP servers' }).getByRole('cell', { name: 'docs', exact: true }).waitFor()
    await policies.evaluate((h) => scrollTo(0, h.getBoundingClientRect().top + scrollY - 70))
    await shot(governance.page, 'admin-governance')
    await governance.context.close()

    // A parent with two sub-agents, one still at work.
    const parentPrompt = 'Find out why the nightly build is slow'
    ui.h.script(parentPrompt, [
      {
        toolCalls: [
          { id: 's1', name: 'spawn_agent', arguments: { type: 'explore', prompt: 'CHILD: time each step of the build script and report the slowest three.', title: 'Time the build steps' } },
          { id: 's2', name: 'spawn_agent', arguments: { type: 'explore', prompt: 'CHILD: read the CI cache configuration and say what is never cached.', title: 'Check the CI cache' } },
        ],
      },
      (m) => call('w1', 'wait_agent', { chat_id: /chat_id: (\S+)/.exec(resultFor(m, 's2'))?.[1] ?? 'missing' }),
      { text: 'The cache check is back; the timing helper is still measuring.' },
    ])
    ui.h.script('CHILD: time each step of the build script and report the slowest three.', [{ text: 'Measuring. '.repeat(200), textPieces: 400, chunkDelayMs: 200 }])
    ui.h.script('CHILD: read the CI cache configuration and say what is never cached.', [{ text: 'The `node_modules` folder is never cached: the cache key includes the commit hash.' }])
    const tree = await signedInPage(browser, ui.url, alice.token, { width: 1200, height: 900 })
    await tree.page.goto('/')
    await tree.page.getByLabel('first message').fill(parentPrompt)
    await tree.page.getByRole('button', { name: 'Start chat' }).click()
    await tree.page.waitForURL(/\/chats\//)
    await gql('mutation($c: ID!, $t: String!) { renameChat(chatId: $c, title: $t) { id } }', { c: new URL(tree.page.url()).pathname.split('/')[2], t: parentPrompt })
    await tree.page.locator('.msg.assistant', { hasText: 'The cache check is back' }).waitFor({ timeout: 60_000 })
    await tree.page.getByRole('list', { name: 'sub-agents' }).locator('.status', { hasText: 'running' }).waitFor()
    await tree.page.evaluate(() => scrollTo(0, 0))
    await shot(tree.page, 'sub-agents')
    await tree.page.getByRole('link', { name: 'Time the build steps' }).first().click()
    await tree.page.getByRole('navigation', { name: 'breadcrumb' }).waitFor()
    await shot(tree.page, 'sub-agent-child')
    await tree.context.close()
  } finally {
    await browser.close()
    await ui.close()
  }
}

await main()
