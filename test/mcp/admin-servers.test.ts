// Admin MCP servers end to end: GraphQL configuration on the real server, real MCP servers (our
// own in process, server-everything as a child), and the agent loop against the wire-faithful fake.
import { createHash } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { CONFIG_STREAM } from '../../src/events/config.ts'
import { startFakeProvider, type FakeProvider } from '../fakes/script.ts'
import { serverBackends } from '../support/databases.ts'
import { startWorkspaceServer, toolResults, wireText, type WireMessage, type WorkspaceServer } from '../workspaces/harness.ts'
import { mcpToolName } from '../../src/mcp/names.ts'
import { freePort, LONG_TOOL, PIXEL_PNG, startEverythingHttp, startOwnMcpServer, type OwnMcpServer } from './servers.ts'

const backends = serverBackends

const TOKEN = 'tok-SECRET-0123456789abcdef'
const HEADER_VALUE = 'hdr-SECRET-fedcba9876543210'
const fingerprint = (s: string) => createHash('sha256').update(s).digest('hex').slice(0, 8)

type Body = { messages: WireMessage[]; tools?: { function: { name: string } }[] }

for (const backend of backends) {
  describe.skipIf(!backend.available)(`admin MCP servers on ${backend.name}`, () => {
    let fake: FakeProvider
    let h: WorkspaceServer
    let ownServer: OwnMcpServer
    let headerServer: OwnMcpServer
    let everything: { url: string; close(): Promise<void> }
    let everythingSse: { url: string; close(): Promise<void> }
    let admin: string
    let member: string
    let drop = async () => {}

    const gql = async (query: string, variables: Record<string, unknown>, token: string) => {
      const res = await fetch(`${h.server.url}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body: JSON.stringify({ query, variables }),
      })
      return (await res.json()) as { data?: any; errors?: { message: string; extensions?: { code?: string } }[] }
    }
    const configure = (input: Record<string, unknown>) =>
      gql(`mutation($input: McpServerInput!) { configureMcpServer(input: $input) { id transport availability auth { kind tokenFingerprint headers { name fingerprint } } } }`, { input }, admin)
    const configEvents = async () => (await h.server.store.readStream(CONFIG_STREAM)).filter((e) => e.type.startsWith('McpServer'))
    const requestsOf = (prompt: string) =>
      (fake.requests as Body[]).filter((b) => wireText(b.messages.find((m) => m.role === 'user') ?? { role: 'user' }) === prompt)
    const toolNames = (b: Body) => (b.tools ?? []).map((t) => t.function.name)
    /** A chat of the member's with no message yet (so toggles can come first), then its message. */
    const newChat = async () => (await gql(`mutation { createChat(input: {title: "mcp"}) { id } }`, {}, member)).data.createChat.id as string
    const send = (chatId: string, text: string) => gql(`mutation($i: SendMessageInput!) { sendMessage(input: $i) { messageId } }`, { i: { chatId, text } }, member)
    const turnOver = (chatId: string) => h.waitFor(chatId, (es) => es.some((e) => e.type === 'TurnCompleted' || e.type === 'TurnFailed'))

    beforeAll(async () => {
      fake = await startFakeProvider('openai-chat')
      const db = await backend.database()
      drop = db.drop
      h = await startWorkspaceServer(fake, { databaseUrl: db.url })
      admin = (await h.user('admin@example.com', 'admin')).token
      member = (await h.user('member@example.com', 'member')).token
      ownServer = await startOwnMcpServer({ token: TOKEN })
      headerServer = await startOwnMcpServer({ header: { name: 'X-Api-Key', value: HEADER_VALUE } })
      everything = await startEverythingHttp()
      everythingSse = await startEverythingHttp('sse')
    }, 180_000) // a PGlite server's first start (initdb, migrations) is slow when suites run side by side
    afterAll(async () => {
      await h?.close()
      await Promise.all([ownServer?.close(), headerServer?.close(), everything?.close(), everythingSse?.close(), fake?.close()])
      await drop()
    }, 60_000)

    it('refuses a bad URL, an unknown transport and repeated header names, appending nothing', async () => {
      const badUrl = await configure({ id: 'bad', url: 'not a url' })
      expect(badUrl.errors?.[0]?.extensions?.code).toBe('INVALID_INPUT')
      expect(badUrl.errors?.[0]?.message).toBe('MCP server URL "not a url" is not a URL')
      const badTransport = await configure({ id: 'bad', url: ownServer.url, transport: 'WEBSOCKET' })
      expect(badTransport.errors?.[0]?.message).toMatch(/WEBSOCKET.*McpTransport/)
      const dupHeaders = await configure({
        id: 'bad',
        url: ownServer.url,
        auth: { kind: 'HEADERS', headers: [{ name: 'X-Key', value: 'a-secret-1' }, { name: 'x-key', value: 'a-secret-2' }] },
      })
      expect(dupHeaders.errors?.[0]?.extensions?.code).toBe('INVALID_INPUT')
      expect(dupHeaders.errors?.[0]?.message).toBe('header x-key is given twice (header names are case-insensitive)')
      const noToken = await configure({ id: 'bad', url: ownServer.url, auth: { kind: 'BEARER' } })
      expect(noToken.errors?.[0]?.message).toBe('auth BEARER needs a token')
      const memberTries = await gql(`mutation { configureMcpServer(input: {id: "m", url: "http://x"}) { id } }`, {}, member)
      expect(memberTries.errors?.[0]?.extensions?.code).toBe('FORBIDDEN')
      expect(await configEvents()).toEqual([])
      const stored = await h.server.db.query<{ name: string }>(`select name from secrets where name like 'mcp:%'`)
      expect(stored).toEqual([])
    })

    it('stores tokens and header values write-only: fingerprints in the log and the API, never the values', async () => {
      const a = await configure({ id: 'own', url: ownServer.url, auth: { kind: 'BEARER', token: TOKEN }, availability: 'FORCE_ON', denyTools: ['secret'] })
      expect(a.errors).toBeUndefined()
      expect(a.data.configureMcpServer).toEqual({ id: 'own', transport: 'STREAMABLE_HTTP', availability: 'FORCE_ON', auth: { kind: 'BEARER', tokenFingerprint: fingerprint(TOKEN), headers: [] } })
      const b = await configure({ id: 'hdr', url: headerServer.url, auth: { kind: 'HEADERS', headers: [{ name: 'X-Api-Key', value: HEADER_VALUE }] }, availability: 'DEFAULT_OFF' })
      expect(b.data.configureMcpServer.auth).toEqual({ kind: 'HEADERS', tokenFingerprint: null, headers: [{ name: 'X-Api-Key', fingerprint: fingerprint(HEADER_VALUE) }] })
      // Reconfigured without the token: the stored one is kept.
      const again = await configure({ id: 'own', url: ownServer.url, auth: { kind: 'BEARER' }, availability: 'FORCE_ON', denyTools: ['secret'] })
      expect(again.data.configureMcpServer.auth.tokenFingerprint).toBe(fingerprint(TOKEN))

      const listed = await gql(`{ mcpServers { id url auth { kind tokenFingerprint headers { name fingerprint } } denyTools lastError } }`, {}, admin)
      expect(listed.data.mcpServers.map((s: { id: string }) => s.id).sort()).toEqual(['hdr', 'own'])
      expect(JSON.stringify(listed)).not.toContain('SECRET')
      expect((await gql(`{ mcpServers { id } }`, {}, member)).errors?.[0]?.extensions?.code).toBe('FORBIDDEN')

      const log = JSON.stringify(await h.server.store.readStream(CONFIG_STREAM), (_k, v) => (typeof v === 'bigint' ? String(v) : v))
      expect(log).toContain(fingerprint(TOKEN))
      expect(log).not.toContain(TOKEN)
      expect(log).not.toContain(HEADER_VALUE)
      const sealed = await h.server.db.query<{ sealed: string }>(`select sealed from secrets where name like 'mcp:%'`)
      expect(sealed).toHaveLength(2)
      expect(JSON.stringify(sealed)).not.toContain('SECRET')
    })

    it("calls an admin server's tools through the loop: names mapped, deny applied, images mapped, errors passed on", async () => {
      const prompt = 'use the own tools'
      h.script(prompt, [
        {
          toolCalls: [
            { id: 'c1', name: 'mcp__own__echo', arguments: { text: 'hello' } },
            { id: 'c2', name: 'mcp__own__picture', arguments: {} },
            { id: 'c3', name: 'mcp__own__fail', arguments: {} },
            { id: 'c4', name: 'mcp__own__secret', arguments: {} },
            { id: 'c5', name: mcpToolName('own', 'weird.name'), arguments: {} },
            { id: 'c6', name: mcpToolName('own', LONG_TOOL), arguments: {} },
            { id: 'c7', name: 'mcp__own__whoami', arguments: {} },
          ],
        },
        { text: 'done' },
      ])
      const chatId = await newChat()
      await send(chatId, prompt)
      const events = await turnOver(chatId)
      expect(events.some((e) => e.type === 'TurnCompleted')).toBe(true)
      const [first, second] = requestsOf(prompt)
      const offered = toolNames(first!)
      expect(offered).toEqual(expect.arrayContaining(['mcp__own__echo', 'mcp__own__picture', 'mcp__own__fail', mcpToolName('own', 'weird.name'), mcpToolName('own', LONG_TOOL)]))
      expect(offered).not.toContain('mcp__own__secret')
      expect(offered.some((n) => n.startsWith('mcp__hdr__'))).toBe(false) // DEFAULT_OFF, not turned on
      for (const n of offered) expect(n).toMatch(/^[A-Za-z0-9_-]{1,64}$/)

      const results = toolResults(events)
      expect(results.c1).toMatchObject({ result: 'echo: hello', isError: false })
      expect(results.c2!.result).toContain('a pixel\n[resource file:///notes.txt (text/plain)]\ninline notes')
      expect(results.c3).toMatchObject({ result: 'it broke', isError: true })
      expect(results.c4).toMatchObject({ isError: true, result: expect.stringContaining('There is no tool named mcp__own__secret') })
      expect(results.c5).toMatchObject({ result: 'weird ran', isError: false })
      expect(results.c6).toMatchObject({ result: 'long ran', isError: false })
      // A server that echoes its token: the stored result has it redacted, like a provider key.
      expect(results.c7!.result).toBe('you sent [redacted:mcp_secret]')
      expect(JSON.stringify(events, (_k, v) => (typeof v === 'bigint' ? String(v) : v))).not.toContain(TOKEN)
      expect(h.logs.join('\n')).not.toContain(TOKEN)

      // What the model received next: the results, and the image as the provider carries it.
      const tools = second!.messages.filter((m) => m.role === 'tool')
      expect(tools.find((m) => m.tool_call_id === 'c1')?.content).toBe('echo: hello')
      expect(tools.find((m) => m.tool_call_id === 'c3')?.content).toContain('it broke')
      // The image is stored as an attachment of the chat (the call's result names it) and reaches
      // the model: OpenAI's tool messages carry text, so it follows as a user message.
      const picture = events.find((e) => e.type === 'ToolCallCompleted' && e.data.callId === 'c2')
      expect(picture?.type === 'ToolCallCompleted' && picture.data.images).toEqual([{ attachmentId: expect.any(String), mimeType: 'image/png', sha256: expect.any(String) }])
      expect(events.some((e) => e.type === 'AttachmentAdded' && e.data.source === 'tool')).toBe(true)
      const imageMessage = second!.messages.find((m) => m.role === 'user' && JSON.stringify(m.content).includes('Images returned by mcp__own__picture'))
      expect(JSON.stringify(imageMessage?.content)).toContain(`data:image/png;base64,${PIXEL_PNG}`)
      expect(ownServer.authorizations.every((a) => a === `Bearer ${TOKEN}`)).toBe(true)
    })

    it('holds a call of a tool its server marks destructive for approval, and lets a read-only one run', async () => {
      const policy = (rules: unknown[]) =>
        gql('mutation($r: [ApprovalRuleInput!]!) { setApprovalPolicy(input: { rules: $r }) { rules { tool destructiveOnly } } }', { r: rules }, admin)
      expect((await policy([{ tool: 'mcp__*', destructiveOnly: true }])).data.setApprovalPolicy.rules).toEqual([{ tool: 'mcp__*', destructiveOnly: true }])
      try {
        const prompt = 'tidy the database'
        h.script(prompt, [
          { toolCalls: [{ id: 'r1', name: 'mcp__own__read_rows', arguments: {} }, { id: 'd1', name: 'mcp__own__drop_table', arguments: {} }] },
          { text: 'left it alone' },
        ])
        const chatId = await newChat()
        await send(chatId, prompt)
        const asked = await h.waitFor(chatId, (es) => es.some((e) => e.type === 'ToolCallApprovalRequested'))
        const request = asked.find((e) => e.type === 'ToolCallApprovalRequested')
        expect(request?.type === 'ToolCallApprovalRequested' && request.data).toMatchObject({ callId: 'd1', rule: { tool: 'mcp__*', destructiveOnly: true } })
        expect(toolResults(asked).r1).toMatchObject({ result: 'rows', isError: false })
        const denied = await gql('mutation($c: ID!) { denyToolCall(chatId: $c, callId: "d1", reason: "not in production") { id } }', { c: chatId }, member)
        expect(denied.errors).toBeUndefined()
        const events = await turnOver(chatId)
        expect(toolResults(events).d1).toMatchObject({ isError: true, result: expect.stringContaining('not in production') })
      } finally {
        await policy([])
      }
    })

    it('turns servers on and off per chat; FORCE_ON and unknown servers are refused before anything is appended', async () => {
      const chatId = await newChat()
      const set = (serverId: string, enabled: boolean) =>
        gql(`mutation($c: ID!, $s: ID!, $e: Boolean!) { setChatMcpServer(chatId: $c, serverId: $s, enabled: $e) { id mcpServers { id availability enabled offered } } }`, { c: chatId, s: serverId, e: enabled }, member)
      const on = await set('hdr', true)
      expect(on.errors).toBeUndefined()
      expect(on.data.setChatMcpServer.mcpServers).toEqual(
        expect.arrayContaining([
          { id: 'hdr', availability: 'DEFAULT_OFF', enabled: true, offered: true },
          { id: 'own', availability: 'FORCE_ON', enabled: true, offered: true },
        ]),
      )
      const force = await set('own', false)
      expect(force.errors?.[0]).toMatchObject({ message: 'MCP server own is on in every chat (FORCE_ON); only an admin can change that', extensions: { code: 'INVALID_INPUT' } })
      const unknown = await set('nope', true)
      expect(unknown.errors?.[0]?.message).toMatch(/^there is no MCP server nope/)
      const toggles = (await h.server.store.readStream(`chat-${chatId}`)).filter((e) => e.type === 'McpServerToggled')
      expect(toggles.map((e) => e.data)).toEqual([{ serverId: 'hdr', enabled: true }])

      // The header-authenticated server's tools now reach the model, and its call runs.
      const prompt = 'use the header server'
      h.script(prompt, [{ toolCalls: [{ id: 'h1', name: 'mcp__hdr__echo', arguments: { text: 'with a header' } }] }, { text: 'ok' }])
      await send(chatId, prompt)
      const events = await turnOver(chatId)
      expect(toolResults(events).h1).toMatchObject({ result: 'echo: with a header', isError: false })
      expect(toolNames(requestsOf(prompt)[0]!)).toContain('mcp__hdr__echo')

      const off = await set('hdr', false)
      expect(off.data.setChatMcpServer.mcpServers).toEqual(expect.arrayContaining([{ id: 'hdr', availability: 'DEFAULT_OFF', enabled: false, offered: false }]))
    })

    it('uses server-everything over streamable HTTP and SSE; a server that is down is not offered and never fails the turn', async () => {
      expect((await configure({ id: 'everything', url: everything.url })).errors).toBeUndefined()
      expect((await configure({ id: 'legacy', url: everythingSse.url, transport: 'SSE', allowTools: ['echo'] })).errors).toBeUndefined()
      const closedPort = await freePort()
      expect((await configure({ id: 'down', url: `http://127.0.0.1:${closedPort}/mcp`, availability: 'FORCE_ON' })).errors).toBeUndefined()
      const prompt = 'use everything'
      h.script(prompt, [
        { toolCalls: [{ id: 'e1', name: 'mcp__everything__echo', arguments: { message: 'via http' } }, { id: 'e2', name: 'mcp__everything__get-sum', arguments: { a: 2, b: 3 } }] },
        { toolCalls: [{ id: 'e3', name: 'mcp__down__anything', arguments: {} }, { id: 'e4', name: 'mcp__legacy__echo', arguments: { message: 'over sse' } }] },
        { text: 'done' },
      ])
      const chatId = await newChat()
      await send(chatId, prompt)
      const events = await turnOver(chatId)
      expect(events.some((e) => e.type === 'TurnCompleted')).toBe(true)
      const results = toolResults(events)
      expect(results.e1).toMatchObject({ result: 'Echo: via http', isError: false })
      expect(results.e2!.result).toContain('5')
      expect(results.e3).toMatchObject({ isError: true, result: expect.stringContaining('There is no tool named mcp__down__anything') })
      expect(results.e4).toMatchObject({ result: 'Echo: over sse', isError: false })
      const [first, second] = requestsOf(prompt)
      expect(toolNames(first!).some((n) => n.startsWith('mcp__down__'))).toBe(false)
      expect(toolNames(first!).filter((n) => n.startsWith('mcp__legacy__'))).toEqual(['mcp__legacy__echo']) // allowTools
      expect(second!.messages.find((m) => m.tool_call_id === 'e1')?.content).toBe('Echo: via http')
      expect(h.logs.filter((l) => l.includes('MCP server down is unreachable'))).toHaveLength(1)
      const listed = await gql(`{ mcpServers { id lastError } }`, {}, admin)
      expect(listed.data.mcpServers.find((s: { id: string }) => s.id === 'down').lastError).toMatch(/fetch failed|ECONNREFUSED/)
    })

    it('answers the model with a clear error when a server goes away between listing and the call', async () => {
      const prompt = 'the server goes away'
      h.script(prompt, [
        () => {
          void headerServer.close()
          return { toolCalls: [{ id: 'g1', name: 'mcp__own__echo', arguments: { text: 'still here' } }, { id: 'g2', name: 'mcp__hdr__echo', arguments: { text: 'gone' } }] }
        },
        { text: 'noted' },
      ])
      const chatId = await newChat()
      expect((await gql(`mutation($c: ID!) { setChatMcpServer(chatId: $c, serverId: "hdr", enabled: true) { id } }`, { c: chatId }, member)).errors).toBeUndefined()
      await send(chatId, prompt)
      const events = await turnOver(chatId)
      expect(events.some((e) => e.type === 'TurnCompleted')).toBe(true)
      const results = toolResults(events)
      expect(results.g1).toMatchObject({ result: 'echo: still here', isError: false })
      expect(results.g2).toMatchObject({ isError: true, result: expect.stringMatching(/^MCP server hdr is unreachable: /) })
      expect((await gql(`mutation { removeMcpServer(id: "hdr") }`, {}, admin)).data.removeMcpServer).toBe('hdr')
      expect(await h.server.db.query(`select name from secrets where name like 'mcp:hdr:%'`)).toEqual([])
    })
  })
}
