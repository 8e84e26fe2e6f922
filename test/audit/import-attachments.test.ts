// `cairn events import --attachments DIR` recreates the `attachments` rows of the chat's
// attachments (not only their bytes), so the imported chat's images load and download again.
import { randomBytes, randomUUID } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { blobPath, loadAttachments, saveAttachment } from '../../src/attachments/blobs.ts'
import { exportChatJsonl } from '../../src/audit/export.ts'
import { ImportError, importChat } from '../../src/audit/import.ts'
import { verifyChains } from '../../src/audit/verify.ts'
import type { Database } from '../../src/db/database.ts'
import { createSqlEventStore } from '../../src/eventstore/postgres/index.ts'
import { backends } from '../support/databases.ts'
import { ORG, OWNER } from './chat-fixture.ts'

const PNG = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), randomBytes(64)])
const dirs: string[] = []
const tempDir = () => {
  const dir = mkdtempSync(join(tmpdir(), 'cairn-import-att-'))
  dirs.push(dir)
  return dir
}
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })))

async function* linesOf(lines: string[]) {
  yield* lines
}

for (const backend of backends) {
  describe.skipIf(!backend.available)(`importing attachments on ${backend.name}`, { timeout: 180_000 }, () => {
    const opened: { close(): Promise<void> }[] = []
    afterAll(async () => {
      for (const o of opened) await o.close()
    })
    const open = async (): Promise<Database> => {
      const o = await backend.open()
      opened.push(o)
      return o.db
    }

    it('recreates each attachment row with its owner, type, name, size and time, and the blob, from new and older exports', async () => {
      const source = await open()
      const sourceDir = tempDir()
      const uploaded = await saveAttachment(source, sourceDir, { bytes: PNG, name: 'shot.png', uploadedBy: OWNER, organizationId: ORG })
      const chatId = randomUUID()
      const store = createSqlEventStore(source)
      const metadata = { actor: { kind: 'user' as const, id: OWNER }, organizationId: ORG }
      const part = { type: 'attachment', attachmentId: uploaded.id, sha256: uploaded.sha256, mimeType: uploaded.mimeType, name: uploaded.name, size: uploaded.size }
      await store.appendToStream(
        `chat-${chatId}`,
        [
          { id: randomUUID(), type: 'ChatCreated', data: { chatId, ownerId: OWNER, organizationId: ORG, title: 'With an image', modelId: null, workspaceId: null, parentChatId: null, rootChatId: null, agentType: null, planMode: false }, metadata },
          { id: randomUUID(), type: 'UserMessagePosted', data: { messageId: randomUUID(), parts: [{ type: 'text', text: 'What is this?' }, part], authorId: OWNER }, metadata },
        ],
        { expectedRevision: 'no_stream' },
      )
      await store.close()
      const exportDir = tempDir()
      const lines: string[] = []
      await exportChatJsonl(createSqlEventStore(source), chatId, (l) => void lines.push(l), { dataDir: sourceDir, attachmentsDir: exportDir, db: source })
      const line = lines.map((l) => JSON.parse(l)).find((l) => l.kind === 'attachment')
      expect(line).toMatchObject({ attachmentId: uploaded.id, written: true, organizationId: ORG, uploadedBy: OWNER })

      // A blob altered after export is refused, and nothing is imported.
      const altered = tempDir()
      writeFileSync(join(altered, uploaded.sha256), Buffer.from('not the image'))
      const refused = await open() // reused below: the refused import left it empty
      await expect(importChat(refused, linesOf(lines), { dataDir: tempDir(), attachmentsDir: altered })).rejects.toThrow(ImportError)
      expect(await loadAttachments(refused, [uploaded.id])).toEqual([])
      expect(await refused.query(`select 1 from streams`)).toEqual([])

      // Without the directory there are no bytes to serve: no rows either.
      const bare = await importChat(refused, linesOf(lines), { dataDir: tempDir() })
      expect(bare.attachments).toBe(0)
      expect(await loadAttachments(refused, [uploaded.id])).toEqual([])

      const target = await open()
      const targetDir = tempDir()
      const result = await importChat(target, linesOf(lines), { dataDir: targetDir, attachmentsDir: exportDir })
      expect(result).toMatchObject({ events: 2, attachments: 1 })
      expect(await loadAttachments(target, [uploaded.id])).toEqual([uploaded])
      expect(readFileSync(blobPath(targetDir, uploaded.sha256))).toEqual(PNG)
      expect((await verifyChains(target)).ok).toBe(true)

      // An export written before attachment lines carried the row's owner: taken from the message that brought it in.
      const older = lines.map((l) => {
        const parsed = JSON.parse(l)
        if (parsed.kind !== 'attachment') return l
        const { organizationId: _o, uploadedBy: _u, createdAt: _c, ...rest } = parsed
        return JSON.stringify(rest)
      })
      const olderTarget = await open()
      await importChat(olderTarget, linesOf(older), { dataDir: tempDir(), attachmentsDir: exportDir })
      const [row] = await loadAttachments(olderTarget, [uploaded.id])
      expect(row).toMatchObject({ id: uploaded.id, organizationId: ORG, uploadedBy: OWNER, sha256: uploaded.sha256, mimeType: 'image/png', name: 'shot.png', size: PNG.length })

    })
  })
}
