// The web UI in a real browser (Debian's chromium through playwright-core) against the real
// server on PGlite; only the LLM is a fake, scripted per chat by its first message.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Browser, Page } from 'playwright-core'
import { randomUUID } from 'node:crypto'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { changeOrganizationRole, createOrganization } from '../../src/identity/index.ts'
import { chatDecider } from '../../commands/chat/decide.ts'
import { handleCommand } from '../../commands/handler.ts'
import { chatStream, DEFAULT_ORGANIZATION_ID } from '../../src/events/index.ts'
import { browserAvailable, launchChromium, signedInPage, startUiServer, type UiServer } from './browser.ts'
import { readyWorkspace, wireText, type WireMessage } from '../workspaces/harness.ts'

const DOT_PNG = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=='
const call = (id: string, name: string, args: unknown) => ({ toolCalls: [{ id, name, arguments: args }] })
/** The tool result the model was sent for `callId`. */
const resultFor = (messages: WireMessage[], callId: string) => wireText(messages.find((m) => m.role === 'tool' && m.tool_call_id === callId) ?? { role: 'tool' })
const LONG_ANSWER = Array.from({ length: 60 }, (_, i) => `word${i}`).join(' ')

describe.skipIf(!browserAvailable())('the web UI in a browser', { timeout: 180_000 }, () => {
  let ui: UiServer
  let browser: Browser
  let alice: { userId: string; token: string }
  let bob: { userId: string; token: string }
  let auditor: { userId: string; token: string }
  const problems: string[] = []
  const contexts: { close(): Promise<void> }[] = []

  beforeAll(async () => {
    ui = await startUiServer()
    browser = await launchChromium()
    alice = await ui.h.user('alice@example.com', 'member')
    bob = await ui.h.user('bob@example.com', 'member')
    auditor = await ui.h.user('audit@example.com', 'auditor')
  })
  afterEach(async () => {
    for (const c of contexts.splice(0)) await c.close()
    // No test may leave a console error or an uncaught exception behind.
    expect(problems.splice(0)).toEqual([])
  })
  afterAll(async () => {
    await browser?.close()
    await ui?.close()
  })

  async function open(token: string | null, path = '/', viewport?: { width: number; height: number }): Promise<Page> {
    const opened = await signedInPage(browser, ui.url, token, viewport)
    contexts.push(opened.context)
    opened.page.on('console', () => problems.push(...opened.problems.splice(0)))
    opened.page.on('pageerror', () => problems.push(...opened.problems.splice(0)))
    await opened.page.goto(path)
    return opened.page
  }

  /** Starts a chat from the chat list's form and returns its id once the chat view is open. */
  async function startChat(page: Page, text: string): Promise<string> {
    await page.getByLabel('first message').fill(text)
    await page.getByRole('button', { name: 'Start chat' }).click()
    await page.waitForURL(/\/chats\/[0-9a-f-]{36}$/)
    return /\/chats\/([0-9a-f-]{36})$/.exec(page.url())![1]!
  }

  const slowText = (pieces = 120) => ({ text: LONG_ANSWER, textPieces: pieces, chunkDelayMs: 150 })

  it('signs in with the first admin token from <data dir>/admin-token, and signs out', async () => {
    const page = await open(null)
    await page.getByLabel('API token').fill('cairn_not-a-real-token')
    await page.getByRole('button', { name: 'Sign in' }).click()
    await expect.poll(() => page.getByRole('alert').textContent()).toContain('not valid')

    const token = readFileSync(join(ui.h.dataDir, 'admin-token'), 'utf8').trim()
    await page.getByLabel('API token').fill(token)
    await page.getByRole('button', { name: 'Sign in' }).click()
    await page.getByText('admin@cairn.local').waitFor()
    expect(await page.evaluate(() => localStorage.getItem('cairn.token'))).toBe(token)
    await page.reload()
    await page.getByRole('link', { name: 'Admin' }).click()
    await page.getByRole('cell', { name: 'Fake model' }).waitFor()

    await page.getByRole('button', { name: 'Sign out' }).click()
    await page.getByLabel('API token').waitFor()
    expect(await page.evaluate(() => localStorage.getItem('cairn.token'))).toBeNull()
  })

  it('sends a message and shows the answer as it streams, then as Markdown with highlighted code', async () => {
    const answer = 'Here is **the fix**:\n\n```ts\nexport const sum = (a: number, b: number) => a + b\n```\n\nDone.'
    ui.h.script('write sum', [{ text: answer, textPieces: 40, chunkDelayMs: 100 }])
    const page = await open(alice.token)
    await page.getByLabel('model').selectOption('fake-model')
    await startChat(page, 'write sum')
    await page.locator('.msg.user', { hasText: 'write sum' }).waitFor()
    // Part of the text is on screen while the turn still runs…
    const live = page.locator('.msg.assistant.live .markdown.streaming')
    await live.waitFor()
    expect(((await live.textContent()) ?? '').length).toBeGreaterThan(0)
    expect(await page.locator('.msg.assistant.live').getAttribute('aria-busy')).toBe('true')
    // …then the stored step replaces it, rendered as Markdown.
    const done = page.locator('.msg.assistant:not(.live)')
    await done.locator('pre.code code.language-ts .hljs-keyword').first().waitFor()
    expect(await done.locator('strong').textContent()).toBe('the fix')
    await page.locator('.chat-meta .status', { hasText: 'waiting' }).waitFor()
    expect(await page.locator('.msg.assistant.live').count()).toBe(0)
  })

  it('queues a message sent while the agent works, and promoting it interrupts the turn', async () => {
    ui.h.script('busy work', [slowText(), { text: 'Now answering the promoted message.' }])
    const page = await open(alice.token)
    await startChat(page, 'busy work')
    await page.locator('.msg.assistant.live .markdown.streaming').waitFor()
    await page.getByLabel('message').fill('and then this')
    await page.getByLabel('message').press('Enter')
    const queue = page.getByRole('region', { name: 'queued messages' })
    await queue.getByText('and then this').waitFor()
    await queue.getByRole('button', { name: 'Send now' }).click()
    await page.locator('.msg.user', { hasText: 'and then this' }).waitFor()
    await page.locator('.msg.assistant', { hasText: 'Now answering the promoted message.' }).waitFor()
    expect(await queue.count()).toBe(0)
    await page.getByText('Turn stopped').waitFor()
  })

  it('removes a queued message', async () => {
    ui.h.script('more busy work', [slowText()])
    const page = await open(alice.token)
    await startChat(page, 'more busy work')
    await page.locator('.msg.assistant.live .markdown.streaming').waitFor()
    await page.getByLabel('message').fill('never mind this')
    await page.getByRole('button', { name: 'Queue' }).click()
    const queue = page.getByRole('region', { name: 'queued messages' })
    await queue.getByRole('button', { name: 'Remove' }).click()
    await queue.waitFor({ state: 'detached' })
    await page.getByRole('button', { name: 'Stop' }).click()
    await page.locator('.chat-meta .status', { hasText: 'waiting' }).waitFor()
    expect(await page.locator('.msg.user', { hasText: 'never mind this' }).count()).toBe(0)
  })

  it('stops a turn and keeps the text streamed so far', async () => {
    ui.h.script('stop me', [slowText()])
    const page = await open(alice.token)
    await startChat(page, 'stop me')
    const live = page.locator('.msg.assistant.live .markdown.streaming')
    await live.waitFor()
    await page.getByRole('button', { name: 'Stop' }).click()
    await page.getByText('Turn stopped').waitFor()
    const kept = (await page.locator('.msg.assistant:not(.live) .markdown').first().textContent()) ?? ''
    expect(kept.length).toBeGreaterThan(0)
    expect(LONG_ANSWER.startsWith(kept.trim())).toBe(true)
    expect(kept.trim().length).toBeLessThan(LONG_ANSWER.length)
    await page.locator('.chat-meta .status', { hasText: 'waiting' }).waitFor()
  })

  it('shows write_file and edit_files calls as diffs and execute as a terminal with its exit code', async () => {
    ui.h.script('edit a file', [
      { toolCalls: [{ id: 'w1', name: 'write_file', arguments: { path: 'greeting.txt', content: 'hello\nworld\n' } }] },
      { toolCalls: [{ id: 'e1', name: 'edit_files', arguments: { edits: [{ path: 'greeting.txt', old_text: 'world', new_text: 'there' }] } }] },
      { toolCalls: [{ id: 'x1', name: 'execute', arguments: { command: 'cat greeting.txt' } }] },
      { text: 'Edited greeting.txt.' },
    ])
    const page = await open(alice.token)
    await startChat(page, 'edit a file')
    await page.locator('.msg.assistant', { hasText: 'Edited greeting.txt.' }).waitFor({ timeout: 120_000 })
    const edit = page.locator('.tool-card[data-tool="edit_files"]')
    expect(await edit.locator('.line.removed').allTextContents()).toEqual(['-world'])
    expect(await edit.locator('.line.added').allTextContents()).toEqual(['+there'])
    expect(await edit.locator('.badge').textContent()).toBe('done')
    expect(await page.locator('.tool-card[data-tool="write_file"] .line.added').allTextContents()).toEqual(['+hello', '+world'])
    const terminal = page.locator('.tool-card[data-tool="execute"] .terminal')
    expect(await terminal.locator('pre').textContent()).toContain('hello\nthere')
    expect(await terminal.locator('.exit').textContent()).toBe('exit 0')
  })

  it('attaches an image to a message, and refuses a file that is not one with a message saying why', async () => {
    ui.h.script('look at this', [{ text: 'First look.' }, { text: 'Nice dot.' }])
    const page = await open(alice.token)
    await startChat(page, 'look at this')
    await page.locator('.msg.assistant', { hasText: 'First look.' }).waitFor()
    const input = page.getByLabel('attach image')
    await input.setInputFiles({ name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from('not an image') })
    expect(await page.getByRole('alert').textContent()).toBe('notes.txt is not a PNG, JPEG, GIF or WebP image')
    await input.setInputFiles({ name: 'dot.png', mimeType: 'image/png', buffer: Buffer.from(DOT_PNG, 'base64') })
    await page.getByRole('img', { name: 'dot.png' }).waitFor()
    await page.getByLabel('message').fill('what is in this picture?')
    await page.getByLabel('message').press('Enter')
    const sent = page.locator('.msg.user', { hasText: 'what is in this picture?' })
    await sent.getByRole('img', { name: 'dot.png' }).waitFor()
    await page.locator('.msg.assistant', { hasText: 'Nice dot.' }).waitFor()
    expect(await sent.getByRole('img', { name: 'dot.png' }).evaluate((img: HTMLImageElement) => img.naturalWidth)).toBe(1)
  })

  it('forks at an event from the timeline and lands in the fork with the inherited history', async () => {
    ui.h.script('fork source', [{ text: 'First answer.' }])
    const page = await open(alice.token)
    const sourceId = await startChat(page, 'fork source')
    await page.locator('.msg.assistant', { hasText: 'First answer.' }).waitFor()
    await page.locator('.chat-meta .status', { hasText: 'waiting' }).waitFor()
    await page.getByRole('link', { name: 'Timeline' }).click()
    const step = page.locator('tr', { has: page.locator('td.type', { hasText: 'AssistantStepCompleted' }) })
    const revision = Number(await step.getAttribute('data-revision'))
    await step.getByRole('button', { name: `fork at event ${revision}` }).click()
    await page.waitForURL((url) => /\/chats\/[0-9a-f-]{36}$/.test(url.pathname) && !url.pathname.includes(sourceId))
    await page.getByRole('link', { name: `forked at event ${revision}` }).waitFor()
    await page.locator('.msg.user', { hasText: 'fork source' }).waitFor()
    await page.locator('.msg.assistant', { hasText: 'First answer.' }).waitFor()
    await page.getByLabel('message').waitFor()
    const forkUrl = new URL(page.url()).pathname
    // The source lists it among its branches.
    await page.goto(`/chats/${sourceId}/timeline`)
    await page.getByRole('navigation', { name: 'forks of this chat' }).getByText(`at event ${revision}`).waitFor()
    expect(await page.getByRole('navigation', { name: 'forks of this chat' }).getByRole('link').getAttribute('href')).toBe(forkUrl)
  })

  it('lets an auditor read a chat without a composer, and hides it from another member', async () => {
    ui.h.script('private work', [{ text: 'Only Alice and auditors see this.' }])
    const alicePage = await open(alice.token)
    const chatId = await startChat(alicePage, 'private work')
    await alicePage.locator('.msg.assistant', { hasText: 'Only Alice and auditors see this.' }).waitFor()

    const auditorPage = await open(auditor.token, `/chats/${chatId}`)
    await auditorPage.locator('.msg.assistant', { hasText: 'Only Alice and auditors see this.' }).waitFor()
    await auditorPage.getByText('read-only').waitFor()
    expect(await auditorPage.getByLabel('message').count()).toBe(0)
    await auditorPage.getByRole('link', { name: 'Timeline' }).click()
    await auditorPage.locator('td.type', { hasText: 'ChatCreated' }).waitFor()
    expect(await auditorPage.getByRole('button', { name: /fork at event/ }).count()).toBe(0)
    await auditorPage.getByRole('button', { name: 'Check the hash chain' }).click()
    await auditorPage.getByRole('status').filter({ hasText: 'Chain intact' }).waitFor()
    await auditorPage.getByRole('link', { name: 'Audit' }).click()
    await auditorPage.getByLabel('chat id').fill(chatId)
    await auditorPage.getByRole('button', { name: 'Filter' }).click()
    await auditorPage.locator('.audit td.type', { hasText: 'UserMessagePosted' }).first().waitFor()
    // The unfiltered list may still be on screen for a moment: wait for the filtered one.
    const chatsListed = async () => new Set(await auditorPage.locator('.audit tbody tr td:last-child a').evaluateAll((links) => links.map((a) => a.getAttribute('href')!.split('/')[2])))
    await expect.poll(chatsListed, { timeout: 10_000 }).toEqual(new Set([chatId]))

    const bobPage = await open(bob.token, `/chats/${chatId}`)
    await bobPage.getByRole('heading', { name: 'Chat not found' }).waitFor()
    expect(await bobPage.getByText('Only Alice and auditors see this.').count()).toBe(0)
  })

  it('switches between the organizations a user belongs to, and offers no new chat without agents-access', async () => {
    const acme = await createOrganization(ui.h.server.store, 'acme-ui')
    const carol = await ui.h.user('carol@example.com', 'member')
    for (const role of ['member', 'agents-access'] as const)
      await ui.h.server.engine.waitForAll((await changeOrganizationRole(ui.h.server.store, { userId: carol.userId, organizationId: acme.organizationId, role, grant: true }))!)
    ui.h.script('default work', [{ text: 'done here' }])
    ui.h.script('acme work', [{ text: 'done there' }])
    const page = await open(carol.token)
    const inDefault = await startChat(page, 'default work')
    await page.getByRole('link', { name: 'Chats' }).click()
    const switcher = page.getByRole('combobox', { name: 'organization' })
    await switcher.selectOption({ label: 'acme-ui' })
    await page.getByRole('heading', { name: 'Your chats' }).waitFor()
    const inAcme = await startChat(page, 'acme work')
    await page.getByRole('link', { name: 'Chats' }).click()
    const listed = async () => (await page.locator('.chat-link').evaluateAll((links) => links.map((a) => a.getAttribute('href')!.split('/')[2]))).sort()
    await expect.poll(listed).toEqual([inAcme])
    await switcher.selectOption({ label: 'default' })
    await expect.poll(listed).toEqual([inDefault])

    await changeOrganizationRole(ui.h.server.store, { userId: carol.userId, organizationId: DEFAULT_ORGANIZATION_ID, role: 'agents-access', grant: false })
    await expect.poll(async () => {
      await page.reload()
      await page.getByRole('heading', { name: 'Your chats' }).waitFor()
      return page.getByRole('button', { name: 'Start chat' }).count()
    }).toBe(0)
  })

  it("shows an admin of another organization that organization's settings, and the instance's only to admins of the default one", async () => {
    const beta = await createOrganization(ui.h.server.store, 'beta-ui')
    const dave = await ui.h.user('dave@example.com', 'member')
    await ui.h.server.engine.waitForAll((await changeOrganizationRole(ui.h.server.store, { userId: dave.userId, organizationId: beta.organizationId, role: 'admin', grant: true }))!)
    const page = await open(dave.token)
    await page.getByRole('combobox', { name: 'organization' }).selectOption({ label: 'beta-ui' })
    await page.getByRole('link', { name: 'Admin' }).click()
    for (const name of ['Members', 'Templates', 'Approval policies']) await page.getByRole('heading', { name }).waitFor()
    await page.getByText("Providers, models, the system prompt, MCP servers and model overrides are this Cairn instance's").waitFor()
    for (const name of ['Providers', 'Models', 'System prompt', 'MCP servers']) expect(await page.getByRole('heading', { name }).count(), name).toBe(0)
    // Nothing on the screen asked for what the server refuses them.
    expect(await page.locator('.error').count()).toBe(0)

    // The default organization's admin sees the instance's settings too.
    const admin = await open(ui.adminToken, '/admin')
    for (const name of ['Members', 'Providers', 'Models', 'System prompt', 'MCP servers', 'Templates', 'Approval policies']) await admin.getByRole('heading', { name }).waitFor()
  })

  it("lets an admin take a member's agents-access away and give it back from the members table", async () => {
    const dana = await ui.h.user('dana@example.com', 'member')
    const rolesOf = async () => (await ui.h.server.db.query<{ roles: Record<string, string[]> }>('select roles from user_org_roles where user_id = $1', [dana.userId]))[0]!.roles[DEFAULT_ORGANIZATION_ID]
    const page = await open(ui.adminToken, '/admin')
    const box = page.getByRole('checkbox', { name: 'dana@example.com agents-access' })
    await box.waitFor()
    expect(await box.isChecked()).toBe(true)
    // A controlled box: it shows the server's answer, so click (uncheck() wants the state at once).
    await box.click()
    await expect.poll(rolesOf).toEqual(['member'])
    await expect.poll(() => box.isChecked()).toBe(false)
    await page.getByRole('textbox', { name: 'email' }).fill('dana@example.com')
    await page.getByRole('combobox', { name: 'role' }).selectOption({ label: 'agents-access' })
    await page.getByRole('button', { name: 'Grant' }).click()
    await expect.poll(rolesOf).toEqual(['agents-access', 'member'])
    // An admin cannot take their own admin role: the server's reason shows.
    await page.getByRole('checkbox', { name: 'admin@cairn.local admin' }).click()
    await page.getByRole('alert').filter({ hasText: 'cannot revoke your own admin role' }).waitFor()
  })

  it('lists chats live: a chat started elsewhere appears with its status', async () => {
    ui.h.script('from another tab', [{ text: 'ok' }])
    const listPage = await open(alice.token)
    await listPage.getByRole('heading', { name: 'Your chats' }).waitFor()
    await ui.h.createChat(alice.userId, 'from another tab')
    await listPage.locator('.chat-link', { hasText: 'A title' }).first().waitFor()
  })

  it('opens a long chat on its newest events and pages earlier history in', async () => {
    // Given a chat of 1 + 4 × 150 events (seeded as whole turns, as the fork bench does).
    const chatId = randomUUID()
    const meta = { actor: { kind: 'user' as const, id: alice.userId }, organizationId: DEFAULT_ORGANIZATION_ID }
    await handleCommand(ui.h.server.store, chatStream(chatId), chatDecider, {
      type: 'CreateChat', chatId, ownerId: alice.userId, organizationId: DEFAULT_ORGANIZATION_ID, title: 'long chat', modelId: null, workspaceId: null, planMode: false,
    }, { commandId: randomUUID(), metadata: meta })
    const agent = { actor: { kind: 'agent' as const, id: 'bench', onBehalfOf: alice.userId }, organizationId: DEFAULT_ORGANIZATION_ID }
    const turn = (n: number) => {
      const turnId = randomUUID()
      const step = { turnId, stepId: randomUUID(), modelId: null, parts: [], text: `answer ${n}`, reasoning: '', toolCalls: [], usage: { inputTokens: 1, outputTokens: 1, cacheReadTokens: 0, cacheWriteTokens: 0, reasoningTokens: 0 }, costUsd: 0, finishReason: 'stop', interrupted: false }
      return [
        { type: 'UserMessagePosted', data: { messageId: randomUUID(), parts: [{ type: 'text', text: `question ${n}` }], authorId: alice.userId }, metadata: meta },
        { type: 'TurnStarted', data: { turnId, runnerId: 'seed', modelId: null }, metadata: agent },
        { type: 'AssistantStepCompleted', data: step, metadata: agent },
        { type: 'TurnCompleted', data: { turnId }, metadata: agent },
      ].map((e) => ({ id: randomUUID(), ...e }))
    }
    await ui.h.server.store.appendToStream(chatStream(chatId), Array.from({ length: 150 }, (_, n) => turn(n)).flat(), { expectedRevision: 0n })
    await ui.h.server.engine.waitForAll(await ui.h.server.store.headCheckpoint())

    const page = await open(alice.token, `/chats/${chatId}`)
    await page.locator('.msg.assistant', { hasText: 'answer 149' }).waitFor()
    // 400 events are 100 turns (300 entries, the newest 200 drawn): entries page in, then events.
    expect(await page.locator('.msg.user', { hasText: /^question 50$/ }).count()).toBe(0)
    await page.getByRole('button', { name: 'Show 100 earlier of 100' }).click()
    await page.locator('.msg.user', { hasText: /^question 50$/ }).waitFor()
    expect(await page.locator('.msg.user', { hasText: /^question 49$/ }).count()).toBe(0)
    await page.getByRole('button', { name: 'Load earlier history (events before #201)' }).click()
    await page.getByRole('button', { name: /^Show \d+ earlier/ }).click()
    await page.locator('.msg.user', { hasText: /^question 0$/ }).waitFor()
    expect(await page.locator('.msg.user').count()).toBe(150)
  })

  it('plans in plan mode: the proposed plan shows as a card, and Approve turns plan mode off and asks for the implementation', async () => {
    const workspaceId = await readyWorkspace(ui.h, alice.userId)
    const plan = '# Plan\n\n1. Write `greeting.txt` with a greeting.\n2. Check it with `cat`.\n'
    ui.h.script('Plan the greeting file.', [
      // The refusal names the plan file this chat may write.
      call('p1', 'write_file', { path: 'greeting.txt', content: 'too early' }),
      (m) => call('p2', 'write_file', { path: /plan file (\S+),/.exec(resultFor(m, 'p1'))?.[1] ?? 'missing', content: plan }),
      (m) => call('p3', 'propose_plan', { path: /wrote \d+ bytes to (\S+)/.exec(resultFor(m, 'p2'))?.[1] ?? 'missing' }),
      call('i1', 'write_file', { path: 'greeting.txt', content: 'hello\n' }),
      { text: 'Implemented the plan.' },
    ])
    const page = await open(alice.token)
    await page.getByLabel('workspace').selectOption(workspaceId)
    await page.getByRole('switch', { name: 'plan mode' }).check()
    const chatId = await startChat(page, 'Plan the greeting file.')
    const card = page.getByRole('region', { name: 'proposed plan' })
    await card.waitFor({ timeout: 120_000 })
    await card.getByRole('heading', { name: 'Proposed plan' }).waitFor()
    expect(await card.locator('.plan-path').textContent()).toBe(`.cairn/plans/${chatId}.md`)
    expect(await card.locator('.plan-body h1').textContent()).toBe('Plan')
    expect(await card.locator('.plan-body li').allTextContents()).toEqual(['Write greeting.txt with a greeting.', 'Check it with cat.'])
    expect(await page.locator('.tool-card[data-tool="write_file"] .badge').first().textContent()).toBe('error')
    const planMode = page.locator('.chat-meta').getByRole('switch', { name: 'plan mode' })
    expect(await planMode.isChecked()).toBe(true)
    await page.locator('.chat-meta .status', { hasText: 'waiting' }).waitFor()

    // Revise puts the cursor in the composer; Approve sends the approval with plan mode off.
    await card.getByRole('button', { name: 'Revise' }).click()
    await expect.poll(() => page.evaluate(() => document.activeElement?.getAttribute('aria-label'))).toBe('message')
    await card.getByRole('button', { name: 'Approve' }).click()
    await page.locator('.msg.user', { hasText: 'Plan approved: implement it.' }).waitFor()
    await page.locator('.msg.assistant', { hasText: 'Implemented the plan.' }).waitFor()
    expect(await planMode.isChecked()).toBe(false)
    expect(await card.getByRole('button').count()).toBe(0)
    // Out of plan mode the write outside the plan file went through.
    expect(await page.locator('.tool-card[data-tool="write_file"] .badge').last().textContent()).toBe('done')
    const approved = ui.fake.requests.find((r) => (r as { messages: WireMessage[] }).messages.some((m) => m.role === 'user' && wireText(m) === 'Plan approved: implement it.'))
    expect(approved).toBeDefined()
  })

  it('asks a question in plan mode: an option clicked and an answer of the user\'s own go back to the model, and the turn goes on', async () => {
    const questions = [
      { header: 'Database', question: 'Which database should the app use?', options: [{ label: 'PostgreSQL', description: 'A server, for many users' }, { label: 'SQLite', description: 'A file, for one machine' }] },
      { header: 'Scope', question: 'Which parts should change?', options: [{ label: 'Everything', description: 'The CLI and the server' }, { label: 'Only the server' }] },
    ]
    ui.h.script('Ask me before you plan.', [call('q1', 'ask_user_question', { questions }), (m) => ({ text: `Going ahead with your answers.\n\n${resultFor(m, 'q1')}` })])
    const page = await open(alice.token)
    await page.getByRole('switch', { name: 'plan mode' }).check()
    await startChat(page, 'Ask me before you plan.')
    const card = page.getByRole('region', { name: 'question' })
    await card.getByRole('group', { name: /Which database should the app use\?/ }).waitFor()
    await page.locator('.chat-meta .status', { hasText: 'requires action' }).waitFor()
    // The composer says a message would answer it.
    await page.getByRole('note').filter({ hasText: 'a message sent now answers it' }).waitFor()
    expect(await page.getByRole('button', { name: 'Send as answer' }).count()).toBe(1)
    expect(await card.locator('.option-description').allTextContents()).toEqual(['A server, for many users', 'A file, for one machine', 'The CLI and the server'])

    const submit = card.getByRole('button', { name: 'Submit answers' })
    expect(await submit.isDisabled()).toBe(true)
    await card.locator('label.option', { hasText: 'SQLite' }).click()
    expect(await submit.isDisabled()).toBe(true)
    await card.getByLabel('your own answer to Scope').fill('Only the CLI')
    await submit.click()
    await page.locator('.msg.assistant', { hasText: 'Going ahead with your answers.' }).waitFor()
    // The answers reached the model as the result of its call, in the same turn.
    const answered = ui.fake.requests.find((r) => (r as { messages: WireMessage[] }).messages.some((m) => m.tool_call_id === 'q1'))
    expect(resultFor((answered as { messages: WireMessage[] }).messages, 'q1')).toBe('The user answered:\n1. Database: SQLite\n2. Scope: Only the CLI')
    // The card now shows the answers, and offers no form for a question no longer pending.
    expect(await card.locator('dd.answer').allTextContents()).toEqual(['SQLite', 'Only the CLI'])
    expect(await card.getByRole('radio').count()).toBe(0)
    await page.locator('.chat-meta .status', { hasText: 'waiting' }).waitFor()
    expect(await page.getByRole('note').count()).toBe(0)
  })

  it('answers a question in free text from the composer at phone width, and a dismissed question says it was not answered', async () => {
    const ask = (id: string, question: string) => call(id, 'ask_user_question', { questions: [{ header: 'Storage', question, options: [{ label: 'PostgreSQL' }, { label: 'SQLite' }] }] })
    ui.h.script('Ask me twice.', [ask('f1', 'Which database?'), (m) => ({ text: `Noted. ${resultFor(m, 'f1')}` }), ask('f2', 'Which database, again?')])
    const page = await open(alice.token, '/', { width: 390, height: 800 })
    await page.getByRole('switch', { name: 'plan mode' }).check()
    await startChat(page, 'Ask me twice.')
    const first = page.getByRole('region', { name: 'question' }).first()
    await first.getByRole('radio', { name: 'SQLite' }).waitFor()
    // The form fits a phone.
    expect(await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth)).toBe(0)
    await page.locator('.chat-meta .status', { hasText: 'requires action' }).waitFor()
    await page.getByLabel('message').fill('SQLite, the app runs on one machine')
    await page.getByRole('button', { name: 'Send as answer' }).click()
    await page.locator('.msg.assistant', { hasText: 'Noted. The user answered in their own words:' }).waitFor()
    expect(await first.locator('dd.answer').textContent()).toBe('Answered in your own words: SQLite, the app runs on one machine')
    // A free-text answer is not a message of its own.
    expect(await page.locator('.msg.user', { hasText: 'SQLite, the app runs on one machine' }).count()).toBe(0)

    await page.locator('.chat-meta .status', { hasText: 'waiting' }).waitFor()
    await page.getByLabel('message').fill('Ask again.')
    await page.getByLabel('message').press('Enter')
    const second = page.getByRole('region', { name: 'question' }).nth(1)
    await second.getByRole('button', { name: 'Dismiss' }).click()
    await second.getByText('Not answered: the turn was stopped.').waitFor()
    await page.locator('.chat-meta .status', { hasText: 'waiting' }).waitFor()
    expect(await second.getByRole('radio').count()).toBe(0)
  })

  it('shows a sub-agent in its parent with its live status, and the child links back to the parent', async () => {
    ui.h.script('Ask a helper about the docs.', [
      call('s1', 'spawn_agent', { type: 'explore', prompt: 'CHILD DOCS: summarise the docs.', title: 'Docs summary' }),
      (m) => call('w1', 'wait_agent', { chat_id: /chat_id: (\S+)/.exec(resultFor(m, 's1'))?.[1] ?? 'missing' }),
      { text: 'The helper reported back.' },
    ])
    ui.h.script('CHILD DOCS: summarise the docs.', [{ text: 'The docs are short and clear.', textPieces: 40, chunkDelayMs: 150 }])
    const page = await open(alice.token)
    const parentId = await startChat(page, 'Ask a helper about the docs.')
    const panel = page.getByRole('list', { name: 'sub-agents' })
    const child = panel.getByRole('listitem').filter({ hasText: 'Docs summary' })
    await child.waitFor()
    expect(await child.locator('.agent-type').textContent()).toBe('explore')
    // Its status follows the child's turn: working while the parent waits, then waiting.
    await child.locator('.status', { hasText: 'running' }).waitFor()
    await page.locator('.msg.assistant', { hasText: 'The helper reported back.' }).waitFor()
    await child.locator('.status', { hasText: 'waiting' }).waitFor()
    // The wait_agent card names the child and shows what it answered.
    const wait = page.locator('.tool-card[data-tool="wait_agent"]')
    expect(await wait.locator('.child-link').textContent()).toBe('Docs summary')
    expect(await wait.locator('.agent-result').textContent()).toContain('The docs are short and clear.')

    await child.getByRole('link', { name: 'Docs summary' }).click()
    await page.waitForURL((url) => /\/chats\/[0-9a-f-]{36}$/.test(url.pathname) && !url.pathname.includes(parentId))
    await page.locator('.msg.user', { hasText: 'CHILD DOCS: summarise the docs.' }).waitFor()
    await page.locator('.msg.assistant', { hasText: 'The docs are short and clear.' }).waitFor()
    expect(await page.locator('.chat-meta .agent-type').textContent()).toBe('explore sub-agent')
    const crumb = page.getByRole('navigation', { name: 'breadcrumb' })
    await crumb.getByRole('link').click()
    await page.waitForURL((url) => url.pathname === `/chats/${parentId}`)
    await page.locator('.msg.assistant', { hasText: 'The helper reported back.' }).waitFor()
  })

  it('creates a template from the admin form and lists it, shows the server\'s refusal of a bad one, edits and archives it', async () => {
    const page = await open(ui.adminToken, '/admin')
    const form = page.getByRole('form', { name: 'create a template' })
    await form.getByRole('button', { name: 'Create template' }).click()
    expect(await form.getByRole('alert').textContent()).toContain('a template needs a name of 1 to 100 characters')

    await form.getByLabel('template name').fill('Exec box')
    await form.getByLabel('template description').fill('A box made by a script')
    await form.getByLabel('provisioner').selectOption('exec')
    await form.getByLabel('create command').fill('echo create')
    await form.getByRole('checkbox', { name: 'member' }).check()
    await form.getByRole('button', { name: 'Create template' }).click()
    const templates = page.getByRole('table', { name: 'templates' })
    const row = templates.getByRole('row').filter({ hasText: 'Exec box' })
    await row.waitFor()
    expect(await row.getByRole('cell').allTextContents()).toEqual(['Exec box', 'exec', 'member', '0', 'Edit Archive'])
    expect(await form.getByRole('alert').count()).toBe(0)

    await row.getByRole('button', { name: 'edit Exec box' }).click()
    const edit = page.getByRole('form', { name: 'edit template Exec box' })
    expect(await edit.getByLabel('create command').inputValue()).toBe('echo create')
    await edit.getByLabel('template name').fill('Exec box, renamed')
    await edit.getByRole('button', { name: 'Save template' }).click()
    await templates.getByRole('cell', { name: 'Exec box, renamed', exact: true }).waitFor()
    const stored = await ui.h.gql(ui.adminToken, '{ templates { name provisioner allowedRoles } }')
    expect(stored.data.templates.find((t: { name: string }) => t.name === 'Exec box, renamed')).toEqual({
      name: 'Exec box, renamed',
      provisioner: { kind: 'exec', create: 'echo create', start: '', stop: '', delete: '' },
      allowedRoles: ['member'],
    })

    page.once('dialog', (dialog) => void dialog.accept())
    await templates.getByRole('button', { name: 'archive Exec box, renamed' }).click()
    await templates.getByRole('cell', { name: 'Exec box, renamed', exact: true }).waitFor({ state: 'detached' })
    const left = await ui.h.gql(ui.adminToken, '{ templates { name } }')
    expect(left.data.templates.map((t: { name: string }) => t.name)).not.toContain('Exec box, renamed')
  })

  it('sets an approval policy from the admin form, after showing why a bad pattern was refused', async () => {
    const page = await open(ui.adminToken, '/admin')
    const form = page.getByRole('form', { name: 'set an approval policy' })
    await form.getByLabel('rule 1 tool').fill('execute')
    await form.getByLabel('rule 1 command pattern').fill('git (push')
    await form.getByRole('button', { name: 'Save policy' }).click()
    expect(await form.getByRole('alert').textContent()).toMatch(/not a regular expression/)
    await form.getByLabel('rule 1 command pattern').fill('\\bgit\\s+push\\b')
    await form.getByLabel('expires after seconds').fill('600')
    await form.getByRole('button', { name: 'Save policy' }).click()
    const row = page.getByRole('table', { name: 'approval policies' }).getByRole('row').filter({ hasText: 'the organization' })
    await row.waitFor()
    expect(await row.getByRole('cell').nth(1).textContent()).toBe('execute matching \\bgit\\s+push\\b')
    expect(await row.getByRole('cell').nth(2).textContent()).toBe('10 min')
    const stored = await ui.h.gql(ui.adminToken, '{ approvalPolicies { templateId rules { tool commandPattern } expiresAfterSeconds } }')
    expect(stored.data.approvalPolicies).toEqual([{ templateId: null, rules: [{ tool: 'execute', commandPattern: '\\bgit\\s+push\\b' }], expiresAfterSeconds: 600 }])
  })

  describe('a call held for approval', () => {
    let workspaceId: string
    beforeAll(async () => {
      const set = await ui.h.gql(ui.adminToken, 'mutation { setApprovalPolicy(input: { rules: [{ tool: "execute", commandPattern: "\\\\bgit\\\\s+push\\\\b" }], expiresAfterSeconds: 600 }) { orgId } }')
      expect(set.errors).toBeUndefined()
      workspaceId = await readyWorkspace(ui.h, alice.userId)
    }, 180_000)

    it('shows the held `git push` as a card; Deny with a reason sends the denial, and the model reads the reason', async () => {
      ui.h.script('Push the branch.', [call('push', 'execute', { command: 'git push origin main' }), (m) => ({ text: `Understood: ${resultFor(m, 'push')}` })])
      const page = await open(alice.token)
      await page.getByLabel('workspace').selectOption(workspaceId)
      await startChat(page, 'Push the branch.')
      const card = page.getByRole('region', { name: 'approval of execute' })
      await card.waitFor({ timeout: 120_000 })
      await page.locator('.chat-meta .status', { hasText: 'requires action' }).waitFor()
      expect(await card.locator('.command').textContent()).toBe('$ git push origin main')
      expect(await card.locator('.approval-rule').textContent()).toBe('Needs approval: rule execute matching \\bgit\\s+push\\b')
      expect(await card.locator('.approval-expiry').textContent()).toMatch(/^denied at .+ \(in (9|10) min\) unless approved$/)
      expect(await card.locator('.badge').textContent()).toBe('waiting for approval')
      await page.getByRole('note').filter({ hasText: 'waits for your approval' }).waitFor()

      await card.getByRole('button', { name: 'Deny…' }).click()
      await card.getByLabel('reason for denying').fill('not on Fridays')
      await card.getByRole('button', { name: 'Deny', exact: true }).click()
      await page.locator('.msg.assistant', { hasText: 'Understood:' }).waitFor()
      expect(await card.locator('.approval-decision').textContent()).toBe('Denied by you: not on Fridays')
      expect(await card.getByRole('button').count()).toBe(0)
      // The model's next request carries the denial and its reason as the call's result.
      const next = ui.fake.requests.find((r) => (r as { messages: WireMessage[] }).messages.some((m) => m.tool_call_id === 'push')) as { messages: WireMessage[] }
      expect(resultFor(next.messages, 'push')).toBe('Error: Not run: the user denied this call. Their reason: not on Fridays')
      await page.locator('.chat-meta .status', { hasText: 'waiting' }).waitFor()
    })

    it('Approve runs the held call, and the card says who approved it', async () => {
      ui.h.script('Push when allowed.', [call('push2', 'execute', { command: 'echo git push done' }), (m) => ({ text: `Ran it: ${resultFor(m, 'push2')}` })])
      const page = await open(alice.token)
      await page.getByLabel('workspace').selectOption(workspaceId)
      await startChat(page, 'Push when allowed.')
      const card = page.getByRole('region', { name: 'approval of execute' })
      await card.getByRole('button', { name: 'Approve', exact: true }).click({ timeout: 120_000 })
      await page.locator('.msg.assistant', { hasText: 'Ran it:' }).waitFor()
      expect(await card.locator('.approval-decision').textContent()).toBe('Approved by you')
      expect(await card.locator('.terminal pre').textContent()).toContain('git push done')
      expect(await card.locator('.terminal .exit').textContent()).toBe('exit 0')
      expect(await card.locator('.badge').textContent()).toBe('done')
    })
  })

  it('works at phone width, from the keyboard', async () => {
    ui.h.script('phone chat', [{ text: 'Answered on a phone.' }])
    const page = await open(alice.token, '/', { width: 390, height: 800 })
    await page.getByLabel('first message').fill('phone chat')
    await page.getByLabel('first message').press('Enter')
    await page.locator('.msg.assistant', { hasText: 'Answered on a phone.' }).waitFor()
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth)
    expect(overflow).toBe(0)
  })
})
