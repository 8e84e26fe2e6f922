// The Markdown transcript of a fork cut in the middle of a tool call names the calls the fork
// closed as not executed, whether its ChatForked lists them or leaves them to the fold's rule.
import { randomUUID } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { chatHistory } from '../../src/audit/export.ts'
import { writeMarkdownTranscript } from '../../src/audit/transcript.ts'
import { createSqlEventStore } from '../../src/eventstore/postgres/index.ts'
import type { EventStore } from '../../src/eventstore/types.ts'
import { backends } from '../support/databases.ts'
import { chatEvents, ORG, OWNER } from './chat-fixture.ts'

const metadata = { actor: { kind: 'user' as const, id: OWNER }, organizationId: ORG }

for (const backend of backends) {
  describe.skipIf(!backend.available)(`Markdown transcripts of forks on ${backend.name}`, () => {
    let store: EventStore
    let close: () => Promise<void>
    beforeAll(async () => {
      const opened = await backend.open()
      store = createSqlEventStore(opened.db)
      close = async () => {
        await store.close()
        await opened.close()
      }
    }, 180_000)
    afterAll(() => close?.())

    const transcript = async (chatId: string) => {
      let text = ''
      await writeMarkdownTranscript(chatHistory(store, chatId), (t) => void (text += t))
      return text
    }
    const fork = async (sourceChatId: string, atRevision: number, closedToolCallIds?: string[]) => {
      const forkId = randomUUID()
      const data = { chatId: forkId, sourceChatId, atRevision, ownerId: OWNER, organizationId: ORG, title: 'cut mid-call', ...(closedToolCallIds ? { closedToolCallIds } : {}) }
      await store.appendToStream(`chat-${forkId}`, [{ id: randomUUID(), type: 'ChatForked', data, metadata }], { forkOf: { stream: `chat-${sourceChatId}`, revision: BigInt(atRevision) } })
      return forkId
    }

    it('lists the calls open at the cut when the fork was decided from the source head alone', async () => {
      const chatId = randomUUID()
      await store.appendToStream(`chat-${chatId}`, chatEvents(chatId).map((e) => ({ id: randomUUID(), ...e, metadata })), { expectedRevision: 'no_stream' })
      // Revision 3 asks for call-1 and revision 5 answers it: a cut at 3 or 4 leaves it open.
      for (const at of [3, 4]) {
        const text = await transcript(await fork(chatId, at))
        expect(text).toContain(`## Forked from chat \`${chatId}\` at revision ${at}`)
        expect(text).toContain('Tool calls closed as not executed: `execute` (id `call-1`).')
      }
      // Listed on the event, the same; cut after the result, none.
      expect(await transcript(await fork(chatId, 4, ['call-1']))).toContain('Tool calls closed as not executed: `execute` (id `call-1`).')
      expect(await transcript(await fork(chatId, 5))).not.toContain('closed as not executed')
    })
  })
}
