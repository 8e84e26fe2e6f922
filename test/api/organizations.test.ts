// Organizations, the agents-access role and API tokens over GraphQL, on a real server: roles are
// added and removed one at a time (never replaced), agents-access gates using agents, a request
// acts in the organization its header names, and a revoked token stops working at once.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { backends } from '../support/databases.ts'
import { startApiServer, type ApiServer } from './harness.ts'

const backend = backends.find((b) => b.name === 'postgres' && b.available) ?? backends[0]!

describe(`organizations and roles on ${backend.name}`, () => {
  let server: ApiServer
  let close: () => Promise<void>
  const code = (r: { body: { errors?: { extensions?: { code?: string } }[] } }) => r.body.errors?.[0]?.extensions?.code ?? 'ok'
  const role = (input: string) => `mutation { ${input} { roles } }`

  beforeAll(async () => {
    const opened = await backend.open()
    close = opened.close
    server = await startApiServer(opened.db)
  })
  afterAll(async () => {
    await server?.close()
    await close?.()
  })

  it('gates using agents on agents-access, which an org admin revokes and grants back without touching other roles', async () => {
    const ada = await server.user('ada@example.com', 'member')
    const chat = await server.gql('mutation { createChat(input: { title: "mine" }) { id } }', {}, ada.token)
    const chatId = chat.body.data.createChat.id as string

    const revoked = await server.gql(role(`revokeRole(input: { email: "ada@example.com", role: AGENTS_ACCESS })`))
    expect(revoked.body.data.revokeRole.roles).toEqual(['MEMBER'])
    for (const attempt of [
      await server.gql('mutation { createChat(input: { title: "another" }) { id } }', {}, ada.token),
      await server.gql('mutation($c: ID!) { sendMessage(input: { chatId: $c, text: "hi" }) { messageId } }', { c: chatId }, ada.token),
    ]) {
      expect(code(attempt)).toBe('FORBIDDEN')
      expect(attempt.body.errors![0]!.message).toContain('agents-access')
    }
    // Still a member: her chat reads, and she may rename it.
    expect(code(await server.gql('query($c: ID!) { chat(id: $c) { id } }', { c: chatId }, ada.token))).toBe('ok')
    expect(code(await server.gql('mutation($c: ID!) { renameChat(chatId: $c, title: "kept") { id } }', { c: chatId }, ada.token))).toBe('ok')
    expect((await server.gql('{ me { role agentsAccess } }', {}, ada.token)).body.data.me).toEqual({ role: 'MEMBER', agentsAccess: false })

    const auditorToo = await server.gql(role(`grantRole(input: { userId: "${ada.userId}", role: AUDITOR })`))
    expect(auditorToo.body.data.grantRole.roles).toEqual(['AUDITOR', 'MEMBER'])
    const back = await server.gql(role(`grantRole(input: { email: "ada@example.com", role: AGENTS_ACCESS })`))
    expect(back.body.data.grantRole.roles).toEqual(['AGENTS_ACCESS', 'AUDITOR', 'MEMBER'])
    // Granting what she holds changes nothing.
    const twice = await server.gql(role(`grantRole(input: { email: "ada@example.com", role: AGENTS_ACCESS })`))
    expect(twice.body.data.grantRole.roles).toEqual(['AGENTS_ACCESS', 'AUDITOR', 'MEMBER'])
  })

  it('lets a user of two organizations act in either, and keeps each one\'s chats to it', async () => {
    const acme = (await server.gql('mutation { createOrganization(name: "acme") { id name } }')).body.data.createOrganization
    expect(acme.name).toBe('acme')
    expect(code(await server.gql('mutation { createOrganization(name: "acme") { id } }'))).toBe('ALREADY_EXISTS')
    expect(code(await server.gql('mutation { createOrganization(name: "Not A Name!") { id } }'))).toBe('INVALID_INPUT')

    const bob = await server.user('bob@example.com', 'member')
    // The default organization's admin is not acme's: granting there needs an admin of acme.
    expect(code(await server.gql(role(`grantRole(input: { email: "bob@example.com", orgId: "${acme.id}", role: MEMBER })`)))).toBe('NOT_FOUND')
    const acmeAdmin = await server.user('root@acme.example', 'admin', { organizationId: acme.id })
    for (const r of ['MEMBER', 'AGENTS_ACCESS'])
      expect(code(await server.gql(role(`grantRole(input: { email: "bob@example.com", role: ${r} })`), {}, acmeAdmin.token))).toBe('ok')

    const me = await server.gql('{ me { organizationId organizations { organization { name } roles } } }', {}, bob.token)
    expect(me.body.data.me.organizations).toEqual([
      { organization: { name: 'acme' }, roles: ['AGENTS_ACCESS', 'MEMBER'] },
      { organization: { name: 'default' }, roles: ['AGENTS_ACCESS', 'MEMBER'] },
    ])
    const inAcme = await server.gql('mutation { createChat(input: { title: "acme work" }) { id organizationId } }', {}, bob.token, { organization: 'acme' })
    expect(inAcme.body.data.createChat.organizationId).toBe(acme.id)
    const acmeChat = inAcme.body.data.createChat.id as string
    // Acting in the default organization, the acme chat is not there; acme's admin sees it.
    expect(code(await server.gql('query($c: ID!) { chat(id: $c) { id } }', { c: acmeChat }, bob.token))).toBe('CHAT_NOT_FOUND')
    expect(code(await server.gql('query($c: ID!) { chat(id: $c) { id } }', { c: acmeChat }, acmeAdmin.token))).toBe('ok')
    expect(code(await server.gql('query($c: ID!) { chat(id: $c) { id } }', { c: acmeChat }))).toBe('CHAT_NOT_FOUND')
    const members = await server.gql('{ members { email roles } }', {}, acmeAdmin.token)
    expect(members.body.data.members.map((m: { email: string }) => m.email)).toEqual(['bob@example.com', 'root@acme.example'])

    // Revoking the last role ends the membership: acting in acme is then refused.
    for (const r of ['MEMBER', 'AGENTS_ACCESS']) await server.gql(role(`revokeRole(input: { email: "bob@example.com", role: ${r} })`), {}, acmeAdmin.token)
    expect(code(await server.gql('query($c: ID!) { chat(id: $c) { id } }', { c: acmeChat }, bob.token, { organization: 'acme' }))).toBe('CHAT_NOT_FOUND')
    expect(code(await server.gql('{ chats { nodes { id } } }', {}, bob.token, { organization: 'acme' }))).toBe('FORBIDDEN')
    expect(code(await server.gql('{ chats { nodes { id } } }', {}, bob.token, { organization: 'no-such-org' }))).toBe('FORBIDDEN')
  })

  it('ends live subscriptions when their token is revoked (4403) or the user loses or gains a role (1012: reconnect)', async () => {
    const eve = await server.user('eve@example.com', 'member')
    const spare = await server.gql('mutation { issueApiToken(label: "tab") { token apiToken { id } } }', {}, eve.token)
    const { token, apiToken } = spare.body.data.issueApiToken
    const closed = (t: string) =>
      new Promise<number>((resolve, reject) => {
        const client = server.ws(t)
        client.on('closed', (event) => resolve((event as { code: number }).code))
        client.subscribe({ query: 'subscription { myChats { kind } }' }, { next: () => {}, error: () => {}, complete: () => {} })
        setTimeout(() => reject(new Error('the subscription was never closed')), 20_000)
      })
    const byRevoke = closed(token)
    const byRole = closed(eve.token)
    await new Promise((r) => setTimeout(r, 500)) // both connected and subscribed
    await server.gql('mutation($t: ID!) { revokeApiToken(tokenId: $t) { id } }', { t: apiToken.id }, eve.token)
    expect(await byRevoke).toBe(4403)
    await server.gql(role('revokeRole(input: { email: "eve@example.com", role: AGENTS_ACCESS })'))
    expect(await byRole).toBe(1012)
    // A role given reaches live subscriptions the same way: they reconnect as who the user is now.
    const byGrant = closed(eve.token)
    await new Promise((r) => setTimeout(r, 500))
    await server.gql(role('grantRole(input: { email: "eve@example.com", role: AUDITOR })'))
    expect(await byGrant).toBe(1012)
  })

  it('refuses an admin revoking their own admin role', async () => {
    const res = await server.gql(role('revokeRole(input: { email: "admin@cairn.local", role: ADMIN })'))
    expect(code(res)).toBe('INVALID_INPUT')
  })

  it('issues and revokes API tokens; a revoked token stops working at once', async () => {
    const cy = await server.user('cy@example.com', 'member')
    const issued = await server.gql('mutation { issueApiToken(label: "ci") { token apiToken { id label revoked } } }', {}, cy.token)
    const { token, apiToken } = issued.body.data.issueApiToken
    expect(apiToken).toMatchObject({ label: 'ci', revoked: false })
    expect((await server.gql('{ me { email } }', {}, token)).body.data.me.email).toBe('cy@example.com')
    const listed = await server.gql('{ apiTokens { label revoked } }', {}, cy.token)
    expect(listed.body.data.apiTokens).toEqual([
      { label: 'first token', revoked: false },
      { label: 'ci', revoked: false },
    ])
    // Another member cannot revoke it, and is told exactly what a made-up id gets.
    const dee = await server.user('dee@example.com', 'member')
    const foreign = await server.gql('mutation($t: ID!) { revokeApiToken(tokenId: $t) { id } }', { t: apiToken.id }, dee.token)
    expect(code(foreign)).toBe('NOT_FOUND')
    // An admin of cy's organization can.
    const revoked = await server.gql('mutation($t: ID!) { revokeApiToken(tokenId: $t) { revoked } }', { t: apiToken.id })
    expect(revoked.body.data.revokeApiToken.revoked).toBe(true)
    expect(code(await server.gql('{ me { email } }', {}, token))).toBe('UNAUTHENTICATED')
    expect(code(await server.gql('{ me { email } }', {}, cy.token))).toBe('ok')
  })
})
