// chats(filter: {forkOf}): a chat's direct forks, as the permission rules let the caller see them.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { backends } from '../support/databases.ts'
import { startApiServer, type ApiServer } from './harness.ts'

const pglite = backends.find((b) => b.name === 'pglite')!
const BRANCHES = 'query($c: ID!) { chats(filter: { forkOf: $c }) { nodes { id forkOf { chatId revision } } } }'

describe('a chat\'s forks', () => {
  let server: ApiServer
  let close: () => Promise<void>
  beforeAll(async () => {
    const opened = await pglite.open()
    close = opened.close
    server = await startApiServer(opened.db)
  })
  afterAll(async () => {
    await server?.close()
    await close?.()
  })

  it('lists the direct forks of a chat to those who may see them, and nothing for a malformed id', async () => {
    const alice = (await server.user('alice@example.com', 'member')).token
    const bob = (await server.user('bob@example.com', 'member')).token
    const auditor = (await server.user('audit@example.com', 'auditor')).token
    const source = (await server.gql('mutation { createChat(input: { title: "s", firstMessage: "one" }) { id } }', {}, alice)).body.data.createChat.id
    const fork = (await server.gql('mutation($c: ID!) { forkChat(chatId: $c, atRevision: 1) { id } }', { c: source }, alice)).body.data.forkChat.id
    // A fork of the fork is the fork's branch, not the source's.
    await server.gql('mutation($c: ID!) { forkChat(chatId: $c, atRevision: 2) { id } }', { c: fork }, alice)

    const branches = async (token: string, c: string) => (await server.gql(BRANCHES, { c }, token)).body.data.chats.nodes
    expect(await branches(alice, source)).toEqual([{ id: fork, forkOf: { chatId: source, revision: 1 } }])
    expect(await branches(auditor, source)).toEqual([{ id: fork, forkOf: { chatId: source, revision: 1 } }])
    expect(await branches(bob, source)).toEqual([])
    expect(await branches(alice, 'not-a-chat')).toEqual([])
  })
})
