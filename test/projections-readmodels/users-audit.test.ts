import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { auditLogProjection } from '../../projections/audit-log.ts'
import { usersProjection } from '../../projections/users.ts'
import type { Database } from '../../src/db/database.ts'
import { chatStream, userStream, type CairnEvent } from '../../src/events/index.ts'
import { backends } from '../support/databases.ts'
import { agentActor, eventLog, ORG, OWNER, project, userActor } from './support.ts'

const uuid = () => crypto.randomUUID()
const SECRET_HASH = 'deadbeef'.repeat(8)

for (const backend of backends) {
  describe.skipIf(!backend.available)(`users and audit_log projections on ${backend.name}`, () => {
    let db: Database
    let close: () => Promise<void>
    beforeAll(async () => {
      ;({ db, close } = await backend.open())
    })
    afterAll(() => close?.())

    it('keeps users and their tokens, hashes only, skipping a duplicate email', async () => {
      const log = eventLog()
      const ada = uuid()
      const dup = uuid()
      const token = uuid()
      const admin = { actor: { kind: 'user' as const, id: OWNER }, organizationId: ORG }
      await project(db, [usersProjection], [
        ...log.append(userStream(ada), [
          { type: 'UserCreated', data: { userId: ada, email: 'ada@example.com', name: 'Ada', role: 'member', organizationId: ORG } },
          { type: 'UserRoleChanged', data: { role: 'admin' } },
          { type: 'ApiTokenIssued', data: { tokenId: token, tokenHash: SECRET_HASH, label: 'laptop' } },
        ], admin),
        ...log.append(userStream(dup), [
          { type: 'UserCreated', data: { userId: dup, email: 'ada@example.com', name: 'Copy', role: 'member', organizationId: ORG } },
          { type: 'ApiTokenIssued', data: { tokenId: uuid(), tokenHash: 'other', label: 'x' } },
        ], admin),
      ])
      expect(await db.query('select id, email, name, role, organization_id from users order by email')).toEqual([
        { id: ada, email: 'ada@example.com', name: 'Ada', role: 'admin', organization_id: ORG },
      ])
      expect(await db.query('select token_id, token_hash, user_id, label, revoked from api_tokens')).toEqual([
        { token_id: token, token_hash: SECRET_HASH, user_id: ada, label: 'laptop', revoked: false },
      ])
      await project(db, [usersProjection], log.append(userStream(ada), [{ type: 'ApiTokenRevoked', data: { tokenId: token } }], admin))
      expect(await db.query('select revoked from api_tokens where token_id = $1', [token])).toEqual([{ revoked: true }])
      const [user] = await db.query<{ created_at: Date; updated_at: Date }>('select created_at, updated_at from users where id = $1', [ada])
      expect(user!.updated_at.getTime()).toBeGreaterThan(user!.created_at.getTime())
    })

    it('writes one audit row per event: who, for whom, which chat and workspace, what', async () => {
      const log = eventLog()
      const chat = uuid()
      const workspace = uuid()
      const user = uuid()
      const s = chatStream(chat)
      const chatEvents = [
        ...log.append(s, [
          {
            type: 'ChatCreated',
            data: { chatId: chat, ownerId: OWNER, organizationId: ORG, title: 'Fix the build', modelId: 'claude', workspaceId: workspace, parentChatId: null, rootChatId: null, agentType: null, planMode: false },
          },
          { type: 'UserMessagePosted', data: { messageId: 'm1', parts: [{ type: 'text', text: 'Please\nrun the tests '.repeat(10) }], authorId: OWNER } },
        ], { actor: { kind: 'user', id: OWNER } }),
        ...log.append(s, [
          { type: 'TurnStarted', data: { turnId: 't1', runnerId: 'r1', modelId: 'claude' } },
          { type: 'ToolCallStarted', data: { turnId: 't1', callId: 'c1', name: 'execute', arguments: { command: 'export TOKEN=hunter2' } } },
          { type: 'ToolCallCompleted', data: { turnId: 't1', callId: 'c1', name: 'execute', result: 'hunter2', isError: true, durationMs: 40 } },
        ], agentActor),
      ]
      const forkId = uuid()
      log.fork(chatStream(forkId), 1)
      const forked = log.append(chatStream(forkId), [
        { type: 'ChatForked', data: { chatId: forkId, sourceChatId: chat, atRevision: 1, ownerId: OWNER, organizationId: ORG, title: 'F', closedToolCallIds: [] } },
      ])
      const userEvents = log.append(userStream(user), [
        { type: 'UserCreated', data: { userId: user, email: 'bob@example.com', name: 'Bob', role: 'member', organizationId: ORG } },
        { type: 'ApiTokenIssued', data: { tokenId: uuid(), tokenHash: SECRET_HASH, label: 'ci' } },
      ], userActor)
      const unknown = log.append('legacy-x', [{ type: 'LegacyThingRetired', data: {} } as unknown as CairnEvent], { actor: { kind: 'system', id: 'cairn' } })
      const all = [...chatEvents, ...forked, ...userEvents, ...unknown]
      for (const e of all) await db.transaction((tx) => auditLogProjection.handle(tx, e))

      const rows = await db.query<Record<string, unknown>>(
        'select position, event_type, actor_kind, actor_id, on_behalf_of, user_id, organization_id, chat_id, workspace_id, stream, revision, summary from audit_log order by position',
      )
      expect(rows.map((r) => r.position)).toEqual(all.map((e) => e.checkpoint))
      expect(rows.map((r) => [r.event_type, r.user_id, r.chat_id, r.summary])).toEqual([
        ['ChatCreated', OWNER, chat, 'created chat "Fix the build"'],
        ['UserMessagePosted', OWNER, chat, `posted a message: ${'Please run the tests '.repeat(4).slice(0, 80)}…`],
        ['TurnStarted', OWNER, chat, 'started a turn with claude'],
        ['ToolCallStarted', OWNER, chat, 'tool call execute started'],
        ['ToolCallCompleted', OWNER, chat, 'tool call execute completed (error) in 40 ms'],
        ['ChatForked', OWNER, forkId, `forked chat ${chat} at revision 1`],
        ['UserCreated', OWNER, null, 'created user bob@example.com (member)'],
        ['ApiTokenIssued', OWNER, null, 'issued API token "ci"'],
        ['LegacyThingRetired', null, null, 'LegacyThingRetired'],
      ])
      expect(rows[2]).toMatchObject({ actor_kind: 'agent', actor_id: 'runner-1', on_behalf_of: OWNER })
      expect(rows[0]).toMatchObject({ workspace_id: workspace, organization_id: ORG, stream: chatStream(chat), revision: '0' })
      // The metadata did not name the organization: it comes from the stream's first event.
      expect(rows.slice(0, 7).map((r) => r.organization_id)).toEqual(Array(7).fill(ORG))
      expect(rows[8]!.organization_id).toBeNull()
      expect(JSON.stringify(rows)).not.toMatch(/hunter2|deadbeef/)
    })
  })
}
