// Bad input gets a clear error and appends nothing.
import { randomUUID } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { MAX_ATTACHMENT_BYTES } from '../../src/attachments/blobs.ts'
import { backends } from '../support/databases.ts'
import { countEvents, startApiServer, type ApiServer } from './harness.ts'

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]
function png(size: number): Buffer {
  const bytes = Buffer.alloc(size)
  Buffer.from(PNG_SIGNATURE).copy(bytes)
  return bytes
}

describe.each(backends)('bad input on $name', (backend) => {
  let server: ApiServer
  let close: () => Promise<void>
  let alice: string
  let bob: string
  let auditor: string
  let chatId: string

  beforeAll(async () => {
    if (!backend.available) return
    const opened = await backend.open()
    close = opened.close
    server = await startApiServer(opened.db)
    alice = (await server.user('alice@example.com', 'member')).token
    bob = (await server.user('bob@example.com', 'member')).token
    auditor = (await server.user('audit@example.com', 'auditor')).token
    chatId = (await server.gql('mutation { createChat(input: { title: "t", firstMessage: "one" }) { id } }', {}, alice)).body.data.createChat.id
  })
  afterAll(async () => {
    await server?.close()
    await close?.()
  })

  const upload = (body: Buffer, token: string | null, name = 'shot.png', type = 'image/png') =>
    fetch(`${server.url}/api/v1/attachments?name=${encodeURIComponent(name)}`, {
      method: 'POST',
      headers: { 'content-type': type, ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: new Uint8Array(body),
    })

  /** Runs `fn` and checks that the log did not grow. */
  async function appendsNothing<T>(fn: () => Promise<T>): Promise<T> {
    const before = await countEvents(server.store)
    const result = await fn()
    expect(await countEvents(server.store)).toBe(before)
    return result
  }

  it.skipIf(!backend.available)('rejects malformed GraphQL with a syntax error', async () => {
    const res = await appendsNothing(() => server.gql('mutation { createChat(input: { title: "x" } { id }', {}, alice))
    expect(res.status).toBe(400)
    expect(res.body.errors![0]!.message).toMatch(/Syntax Error/)
  })

  it.skipIf(!backend.available)('rejects an unknown chat and a malformed chat id alike', async () => {
    const send = 'mutation($c: ID!) { sendMessage(input: { chatId: $c, text: "hi" }) { messageId } }'
    const unknown = await appendsNothing(() => server.gql(send, { c: randomUUID() }, alice))
    const malformed = await appendsNothing(() => server.gql(send, { c: 'not-a-chat' }, alice))
    expect(unknown.body.errors![0]).toMatchObject({ message: 'chat not found', extensions: { code: 'CHAT_NOT_FOUND' } })
    expect(malformed.text).toBe(unknown.text)
  })

  it.skipIf(!backend.available)('rejects a fork beyond the last revision, saying how many events there are', async () => {
    const res = await appendsNothing(() => server.gql('mutation($c: ID!) { forkChat(chatId: $c, atRevision: 57) { id } }', { c: chatId }, alice))
    expect(res.body.errors![0]).toMatchObject({
      message: `chat ${chatId} has 2 events; revision 57 does not exist`,
      extensions: { code: 'FORK_REVISION_OUT_OF_RANGE', lastRevision: 1 },
    })
    const negative = await appendsNothing(() => server.gql('mutation($c: ID!) { forkChat(chatId: $c, atRevision: -1) { id } }', { c: chatId }, alice))
    expect(negative.body.errors![0]!.extensions!.code).toBe('FORK_REVISION_OUT_OF_RANGE')
  })

  it.skipIf(!backend.available)('rejects an oversized message', async () => {
    const res = await appendsNothing(() =>
      server.gql('mutation($c: ID!, $t: String!) { sendMessage(input: { chatId: $c, text: $t }) { messageId } }', { c: chatId, t: 'x'.repeat(100_001) }, alice),
    )
    expect(res.body.errors![0]).toMatchObject({ message: 'message text is 100001 characters; the limit is 100000', extensions: { code: 'INVALID_INPUT' } })
  })

  it.skipIf(!backend.available)('rejects an image of 10 MB + 1 byte and accepts one of exactly 10 MB', async () => {
    const tooLarge = await appendsNothing(() => upload(png(MAX_ATTACHMENT_BYTES + 1), alice))
    expect(tooLarge.status).toBe(413)
    expect(await tooLarge.json()).toEqual({
      error: { code: 'ATTACHMENT_TOO_LARGE', message: 'the upload is 10485761 bytes; the limit is 10485760 bytes (10 MB)' },
    })
    const muchLarger = await upload(png(MAX_ATTACHMENT_BYTES + 5000), alice)
    expect(muchLarger.status).toBe(413)
    expect(((await muchLarger.json()) as { error: { code: string } }).error.code).toBe('ATTACHMENT_TOO_LARGE')
    const atLimit = await upload(png(MAX_ATTACHMENT_BYTES), alice)
    expect(atLimit.status).toBe(201)
  })

  it.skipIf(!backend.available)('rejects a text file renamed .png, whatever its declared type', async () => {
    const res = await appendsNothing(() => upload(Buffer.from('just some notes\n'.repeat(100)), alice, 'notes.png', 'image/png'))
    expect(res.status).toBe(415)
    expect(((await res.json()) as { error: { code: string; message: string } }).error).toEqual({
      code: 'UNSUPPORTED_ATTACHMENT_TYPE',
      message: 'the upload is not a PNG, JPEG, GIF or WebP image (checked by its content, not its name or Content-Type)',
    })
    expect((await upload(png(100), null)).status).toBe(401)
  })

  it.skipIf(!backend.available)('attaches an uploaded image to a message; readers of the chat may download it, others may not', async () => {
    const gif = Buffer.concat([Buffer.from('GIF89a'), Buffer.alloc(64, 1)])
    const uploaded = (await (await upload(gif, alice, 'anim.gif', 'application/octet-stream')).json()) as { id: string; sha256: string; mimeType: string }
    expect(uploaded.mimeType).toBe('image/gif')
    const download = (token: string) => fetch(`${server.url}/api/v1/attachments/${uploaded.id}`, { headers: { authorization: `Bearer ${token}` } })
    expect((await download(bob)).status).toBe(404)

    // Bob cannot attach Alice's upload to his own chat: to him it does not exist.
    const bobChat = (await server.gql('mutation { createChat(input: { title: "b" }) { id } }', {}, bob)).body.data.createChat.id
    const stolen = await appendsNothing(() =>
      server.gql('mutation($c: ID!, $a: [ID!]) { sendMessage(input: { chatId: $c, text: "look", attachmentIds: $a }) { messageId } }', { c: bobChat, a: [uploaded.id] }, bob),
    )
    expect(stolen.body.errors![0]!.extensions!.code).toBe('INVALID_INPUT')

    const sent = await server.gql(
      'mutation($c: ID!, $a: [ID!]) { sendMessage(input: { chatId: $c, text: "look", attachmentIds: $a }) { messageId } }',
      { c: chatId, a: [uploaded.id] },
      alice,
    )
    expect(sent.body.errors).toBeUndefined()
    const events = await server.store.readStream(`chat-${chatId}`, { fromRevision: 2n })
    expect(events.map((e) => e.type)).toEqual(['AttachmentAdded', 'UserMessagePosted'])
    expect(events[0]!.data).toMatchObject({ attachmentId: uploaded.id, sha256: uploaded.sha256, mimeType: 'image/gif', source: 'upload' })

    const byAuditor = await download(auditor)
    expect(byAuditor.status).toBe(200)
    expect(byAuditor.headers.get('content-type')).toBe('image/gif')
    expect(Buffer.from(await byAuditor.arrayBuffer())).toEqual(gif)
    expect((await download(alice)).status).toBe(200)
    expect((await download(bob)).status).toBe(404)
  })

  it.skipIf(!backend.available)('rejects a query that is too deep or too costly before running it', async () => {
    const deep = await server.gql('{ chats { edges { node { queue { parts } forkOf { chatId } } } pageInfo { endCursor } } }', {}, alice)
    expect(deep.body.errors).toBeUndefined()
    const page = 'chats(first: 200) { nodes { queue { queueId parts authorId createdAt position } id title status ownerId archived modelId revision } }'
    const costly = await server.gql(`{ a: ${page} b: ${page} c: ${page} d: ${page} }`, {}, alice)
    expect(costly.status).toBe(400)
    expect(costly.body.errors![0]!.message).toMatch(/the query costs \d+; the limit is 10000/)
  })
})
