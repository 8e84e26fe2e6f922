// The sub-agent tree through GraphQL: Chat.parent / children / root, root chats only in the
// default listings (chats, myChats), and the owner's permissions over the whole tree.
import { randomUUID } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { chatDecider } from '../../commands/chat/decide.ts'
import { handleCommand } from '../../commands/handler.ts'
import { chatStream, DEFAULT_ORGANIZATION_ID } from '../../src/events/index.ts'
import { backends } from '../support/databases.ts'
import { collect, sleep, startApiServer, type ApiServer } from './harness.ts'

describe.each(backends)('the sub-agent tree through GraphQL on $name', (backend) => {
  let server: ApiServer
  let close: () => Promise<void>
  let alice: { token: string; userId: string }
  let bob: { token: string; userId: string }
  let auditor: { token: string; userId: string }

  beforeAll(async () => {
    if (!backend.available) return
    const opened = await backend.open()
    close = opened.close
    server = await startApiServer(opened.db)
    alice = await server.user('alice@example.com', 'member')
    bob = await server.user('bob@example.com', 'member')
    auditor = await server.user('audit@example.com', 'auditor')
  })
  afterAll(async () => {
    await server?.close()
    await close?.()
  })

  /** A sub-agent chat as the runner will make one: CreateChat with its parent and root, owned by the root's owner. */
  async function child(parentChatId: string, rootChatId: string, title: string): Promise<string> {
    const chatId = randomUUID()
    const outcome = await handleCommand(
      server.store,
      chatStream(chatId),
      chatDecider,
      {
        type: 'CreateChat',
        chatId,
        ownerId: alice.userId,
        organizationId: DEFAULT_ORGANIZATION_ID,
        title,
        modelId: null,
        workspaceId: null,
        planMode: false,
        parentChatId,
        rootChatId,
        agentType: 'explore',
      },
      { commandId: randomUUID(), metadata: { actor: { kind: 'agent', id: 'runner', onBehalfOf: alice.userId }, organizationId: DEFAULT_ORGANIZATION_ID } },
    )
    await server.engine.waitForAll(outcome.result!.checkpoint)
    return chatId
  }

  const TREE = `id title agentType parent { id } root { id } children { id title agentType parent { id } root { id } }`
  const ids = (nodes: { id: string }[]) => nodes.map((n) => n.id)

  it.skipIf(!backend.available)('answers parent, children (oldest first) and root, and lists root chats unless asked', async () => {
    const root = (await server.gql(`mutation { createChat(input: { title: "the root" }) { id } }`, {}, alice.token)).body.data.createChat.id
    const first = await child(root, root, 'first child')
    await sleep(5)
    const second = await child(root, root, 'second child')

    const rootView = await server.gql(`query($id: ID!) { chat(id: $id) { ${TREE} } }`, { id: root }, alice.token)
    expect(rootView.body.errors).toBeUndefined()
    expect(rootView.body.data.chat).toMatchObject({ id: root, parent: null, root: null, agentType: null })
    expect(rootView.body.data.chat.children).toEqual([
      { id: first, title: 'first child', agentType: 'explore', parent: { id: root }, root: { id: root } },
      { id: second, title: 'second child', agentType: 'explore', parent: { id: root }, root: { id: root } },
    ])
    const childView = await server.gql(`query($id: ID!) { chat(id: $id) { ${TREE} } }`, { id: first }, alice.token)
    expect(childView.body.data.chat).toMatchObject({ parent: { id: root }, root: { id: root }, children: [] })

    const listed = async (filter: Record<string, unknown> | null) =>
      ids((await server.gql(`query($f: ChatFilter) { chats(first: 50, filter: $f) { nodes { id } } }`, { f: filter }, alice.token)).body.data.chats.nodes)
    expect(await listed(null)).toContain(root)
    expect(await listed(null)).not.toContain(first)
    expect(await listed({ archived: false })).not.toContain(second)
    expect(await listed({ includeSubAgents: true })).toEqual(expect.arrayContaining([root, first, second]))
    expect(await listed({ parentChatId: root })).toEqual([second, first])
    expect(await listed({ parentChatId: first })).toEqual([])

    // A page of chats with their trees (batched: one query per field for the whole page).
    const page = await server.gql(`{ chats(first: 20, filter: { includeSubAgents: true }) { nodes { id parent { id } children { id } } } }`, {}, alice.token)
    expect(page.body.errors).toBeUndefined()
    const byId = new Map(page.body.data.chats.nodes.map((n: { id: string }) => [n.id, n]))
    expect(byId.get(root)).toMatchObject({ parent: null, children: [{ id: first }, { id: second }] })
    expect(byId.get(second)).toMatchObject({ parent: { id: root }, children: [] })
  })

  it.skipIf(!backend.available)("follows the root's owner: another member sees nothing of the tree; an auditor reads it", async () => {
    const root = (await server.gql(`mutation { createChat(input: { title: "private root" }) { id } }`, {}, alice.token)).body.data.createChat.id
    const sub = await child(root, root, 'private child')

    for (const id of [root, sub]) {
      const res = await server.gql(`query($id: ID!) { chat(id: $id) { id parent { id } children { id } } }`, { id }, bob.token)
      expect(res.body.errors?.[0]?.extensions?.code).toBe('CHAT_NOT_FOUND')
    }
    const bobs = await server.gql(`query($f: ChatFilter) { chats(first: 50, filter: $f) { nodes { id } } }`, { f: { parentChatId: root } }, bob.token)
    expect(bobs.body.data.chats.nodes).toEqual([])
    const bobsAll = await server.gql(`{ chats(first: 50, filter: { includeSubAgents: true }) { nodes { id } } }`, {}, bob.token)
    expect(ids(bobsAll.body.data.chats.nodes)).not.toContain(sub)

    const audited = await server.gql(`query($id: ID!) { chat(id: $id) { children { id root { id } } } }`, { id: root }, auditor.token)
    expect(audited.body.data.chat.children).toEqual([{ id: sub, root: { id: root } }])
  })

  it.skipIf(!backend.available)('myChats tells about sub-agent chats only when asked', async () => {
    const root = (await server.gql(`mutation { createChat(input: { title: "watched root" }) { id } }`, {}, alice.token)).body.data.createChat.id
    const everything = collect<{ myChats: { kind: string; chat: { id: string; parent: { id: string } | null } } }>(
      server.ws(alice.token),
      `subscription { myChats(includeSubAgents: true) { kind chat { id parent { id } } } }`,
      {},
      (items) => items.some((i) => i.myChats.kind === 'TITLE'),
    )
    const roots = collect<{ myChats: { kind: string; chat: { id: string } } }>(
      server.ws(alice.token),
      `subscription { myChats { kind chat { id } } }`,
      {},
      (items) => items.some((i) => i.myChats.kind === 'TITLE'),
    )
    await sleep(500)
    const sub = await child(root, root, 'watched child')
    await server.gql(`mutation($id: ID!) { renameChat(chatId: $id, title: "renamed root") { id } }`, { id: root }, alice.token)

    const all = await everything.done
    expect(all.map((i) => [i.myChats.kind, i.myChats.chat.id, i.myChats.chat.parent?.id ?? null])).toEqual([
      ['CREATED', sub, root],
      ['TITLE', root, null],
    ])
    expect((await roots.done).map((i) => [i.myChats.kind, i.myChats.chat.id])).toEqual([['TITLE', root]])
  })
})
