// File tools: read with line numbers, write, atomic multi-file edit, raw download.
import { createReadStream } from 'node:fs'
import { mkdir, readFile, rename, rm, stat, writeFile, chmod } from 'node:fs/promises'
import path from 'node:path'
import { createInterface } from 'node:readline'
import type { FastifyPluginAsync } from 'fastify'
import { AgentError, badRequest, fsError } from './errors.ts'

export interface ReadFileRequest {
  path: string
  offset?: number
  limit?: number
  maxBytes?: number
}

export interface ReadFileResult {
  /** Lines numbered like `cat -n`: six-wide number, tab, text. */
  content: string
  startLine: number
  endLine: number
  totalLines: number
  truncated: boolean
}

export interface FileEdit {
  path: string
  old_text: string
  new_text: string
  replace_all?: boolean
}

const DEFAULT_LIMIT = 2000
const DEFAULT_MAX_BYTES = 256 * 1024

export function resolveInWorkdir(workdir: string, p: string): string {
  if (typeof p !== 'string' || p.length === 0) throw badRequest('INVALID_PATH', 'path must be a non-empty string')
  if (p.includes('\0')) throw badRequest('INVALID_PATH', 'path must not contain NUL bytes')
  return path.resolve(workdir, p)
}

export async function readFileWindow(workdir: string, req: ReadFileRequest): Promise<ReadFileResult> {
  const file = resolveInWorkdir(workdir, req.path)
  const offset = req.offset ?? 1
  const limit = req.limit ?? DEFAULT_LIMIT
  const maxBytes = req.maxBytes ?? DEFAULT_MAX_BYTES
  try {
    const st = await stat(file)
    if (st.isDirectory()) throw fsError(Object.assign(new Error(), { code: 'EISDIR' }), req.path)
  } catch (err) {
    throw err instanceof AgentError ? err : fsError(err, req.path)
  }

  const lines: string[] = []
  let bytes = 0
  let totalLines = 0
  let cutByBytes = false
  // Stream so a huge log costs memory for the window only; totalLines needs the full pass.
  const input = createReadStream(file, { encoding: 'utf8' })
  const reader = createInterface({ input, crlfDelay: Infinity })
  try {
    for await (const line of reader) {
      totalLines++
      if (totalLines < offset || lines.length >= limit || cutByBytes) continue
      const numbered = `${String(totalLines).padStart(6)}\t${line}\n`
      const size = Buffer.byteLength(numbered)
      if (bytes + size > maxBytes) {
        cutByBytes = true
        // A single line longer than the budget is still shown, cut, rather than nothing.
        if (lines.length === 0) {
          lines.push(truncateUtf8(numbered, maxBytes))
          bytes = maxBytes
        }
        continue
      }
      lines.push(numbered)
      bytes += size
    }
  } catch (err) {
    throw fsError(err, req.path)
  } finally {
    input.destroy()
  }

  if (offset > 1 && offset > totalLines) {
    throw badRequest('OFFSET_OUT_OF_RANGE', `offset ${offset} is past the end of ${req.path}, which has ${totalLines} lines`)
  }
  const endLine = lines.length === 0 ? offset - 1 : offset + lines.length - 1
  return {
    content: lines.join('').replace(/\n$/, ''),
    startLine: offset,
    endLine,
    totalLines,
    truncated: cutByBytes || endLine < totalLines,
  }
}

function truncateUtf8(text: string, maxBytes: number): string {
  const buf = Buffer.from(text).subarray(0, maxBytes)
  let end = buf.length
  // back off a partial multi-byte sequence at the cut
  while (end > 0 && (buf[end - 1]! & 0xc0) === 0x80) end--
  if (end > 0 && buf[end - 1]! >= 0xc0) end--
  return buf.subarray(0, end).toString('utf8')
}

export async function writeWorkspaceFile(workdir: string, p: string, content: string): Promise<{ path: string; bytes: number }> {
  const file = resolveInWorkdir(workdir, p)
  try {
    await mkdir(path.dirname(file), { recursive: true })
    await writeFile(file, content, 'utf8')
  } catch (err) {
    throw fsError(err, p)
  }
  return { path: file, bytes: Buffer.byteLength(content) }
}

/**
 * Applies every edit or none: all are checked against the files' current contents
 * (in order, per file) before anything is written, then each file is replaced by rename.
 */
export async function editWorkspaceFiles(
  workdir: string,
  edits: FileEdit[],
): Promise<{ files: { path: string; replacements: number }[] }> {
  if (!Array.isArray(edits) || edits.length === 0) throw badRequest('INVALID_REQUEST', 'edits must be a non-empty array')
  const contents = new Map<string, { display: string; text: string; mode: number; replacements: number }>()

  for (const [index, edit] of edits.entries()) {
    const file = resolveInWorkdir(workdir, edit.path)
    let entry = contents.get(file)
    if (!entry) {
      try {
        const st = await stat(file)
        if (st.isDirectory()) throw Object.assign(new Error(), { code: 'EISDIR' })
        entry = { display: edit.path, text: await readFile(file, 'utf8'), mode: st.mode & 0o7777, replacements: 0 }
      } catch (err) {
        const e = fsError(err, edit.path)
        throw new AgentError(e.status, e.code, `edit ${index} (${edit.path}): ${e.message}`, { index, path: edit.path })
      }
      contents.set(file, entry)
    }
    if (edit.old_text.length === 0) {
      throw badRequest('EDIT_EMPTY_OLD_TEXT', `edit ${index} (${edit.path}): old_text is empty; to create or overwrite a file use write_file`, { index, path: edit.path })
    }
    const count = countOccurrences(entry.text, edit.old_text)
    if (count === 0) {
      throw badRequest('EDIT_NO_MATCH', `edit ${index} (${edit.path}): old_text matched 0 times; no files were changed`, { index, path: edit.path, matches: 0 })
    }
    if (count > 1 && !edit.replace_all) {
      throw badRequest(
        'EDIT_AMBIGUOUS',
        `edit ${index} (${edit.path}): old_text matched ${count} times; add surrounding context to make it unique or set replace_all; no files were changed`,
        { index, path: edit.path, matches: count },
      )
    }
    if (edit.replace_all) {
      entry.text = entry.text.split(edit.old_text).join(edit.new_text)
      entry.replacements += count
    } else {
      const at = entry.text.indexOf(edit.old_text)
      entry.text = entry.text.slice(0, at) + edit.new_text + entry.text.slice(at + edit.old_text.length)
      entry.replacements += 1
    }
  }

  // Stage every file first so a failed write leaves the originals untouched.
  const staged: { tmp: string; file: string }[] = []
  try {
    for (const [file, entry] of contents) {
      const tmp = path.join(path.dirname(file), `.${path.basename(file)}.cairn-edit-${process.pid}-${Date.now()}`)
      await writeFile(tmp, entry.text, { encoding: 'utf8', mode: entry.mode })
      await chmod(tmp, entry.mode)
      staged.push({ tmp, file })
    }
  } catch (err) {
    await Promise.all(staged.map((s) => rm(s.tmp, { force: true })))
    throw fsError(err, 'staging edit')
  }
  for (const s of staged) await rename(s.tmp, s.file)
  return { files: [...contents.values()].map((e) => ({ path: e.display, replacements: e.replacements })) }
}

function countOccurrences(text: string, needle: string): number {
  let count = 0
  for (let at = text.indexOf(needle); at !== -1; at = text.indexOf(needle, at + needle.length)) count++
  return count
}

const editSchema = {
  type: 'object',
  required: ['path', 'old_text', 'new_text'],
  properties: {
    path: { type: 'string', minLength: 1 },
    old_text: { type: 'string' },
    new_text: { type: 'string' },
    replace_all: { type: 'boolean' },
  },
} as const

export const fileRoutes = (workdir: string): FastifyPluginAsync => async (app) => {
  app.post<{ Body: ReadFileRequest }>(
    '/files/read',
    {
      schema: {
        body: {
          type: 'object',
          required: ['path'],
          properties: {
            path: { type: 'string', minLength: 1 },
            offset: { type: 'integer', minimum: 1 },
            limit: { type: 'integer', minimum: 1 },
            maxBytes: { type: 'integer', minimum: 1 },
          },
        },
      },
    },
    async (req) => readFileWindow(workdir, req.body),
  )

  app.post<{ Body: { path: string; content: string } }>(
    '/files/write',
    {
      schema: {
        body: {
          type: 'object',
          required: ['path', 'content'],
          properties: { path: { type: 'string', minLength: 1 }, content: { type: 'string' } },
        },
      },
    },
    async (req) => writeWorkspaceFile(workdir, req.body.path, req.body.content),
  )

  app.post<{ Body: { edits: FileEdit[] } }>(
    '/files/edit',
    {
      schema: {
        body: {
          type: 'object',
          required: ['edits'],
          properties: { edits: { type: 'array', minItems: 1, items: editSchema } },
        },
      },
    },
    async (req) => editWorkspaceFiles(workdir, req.body.edits),
  )

  app.get<{ Querystring: { path?: string } }>('/files/download', async (req, reply) => {
    const p = req.query.path
    if (!p) throw badRequest('INVALID_PATH', 'query parameter path is required')
    const file = resolveInWorkdir(workdir, p)
    let size: number
    try {
      const st = await stat(file)
      if (st.isDirectory()) throw Object.assign(new Error(), { code: 'EISDIR' })
      size = st.size
    } catch (err) {
      throw fsError(err, p)
    }
    reply.header('content-type', 'application/octet-stream')
    reply.header('content-length', size)
    reply.header('content-disposition', `attachment; filename="${path.basename(file).replace(/["\\\r\n]/g, '_')}"`)
    return reply.send(createReadStream(file))
  })
}
