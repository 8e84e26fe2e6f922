// Skills: `<workdir>/.agents/skills/<name>/SKILL.md`, loaded by the model on demand.
import { readFile, readdir, realpath, stat } from 'node:fs/promises'
import path from 'node:path'
import type { FastifyPluginAsync } from 'fastify'
import { AgentError, badRequest, fsError, notFound } from './errors.ts'

export interface SkillSummary {
  name: string
  description: string
}

const MAX_SKILL_FILE_BYTES = 1024 * 1024

/** Splits `---\nkey: value\n---\nbody`; only flat `key: value` pairs are understood. */
export function parseFrontMatter(text: string): { fields: Record<string, string>; body: string } {
  const match = text.match(/^\uFEFF?---\r?\n([\s\S]*?)\r?\n---[ \t]*(?:\r?\n|$)/)
  if (!match) return { fields: {}, body: text }
  const fields: Record<string, string> = {}
  for (const line of match[1]!.split(/\r?\n/)) {
    const kv = line.match(/^([A-Za-z0-9_-]+)\s*:\s*(.*)$/)
    if (!kv) continue
    let value = kv[2]!.trim()
    if (value.length >= 2 && (value[0] === '"' || value[0] === "'") && value.endsWith(value[0])) value = value.slice(1, -1)
    fields[kv[1]!] = value
  }
  return { fields, body: text.slice(match[0].length) }
}

export class SkillCatalog {
  private readonly root: string

  constructor(workdir: string) {
    this.root = path.join(workdir, '.agents', 'skills')
  }

  async list(): Promise<SkillSummary[]> {
    const entries = await readdir(this.root, { withFileTypes: true }).catch(() => [])
    const skills: SkillSummary[] = []
    for (const entry of entries) {
      if (!entry.isDirectory() && !entry.isSymbolicLink()) continue
      const text = await readFile(path.join(this.root, entry.name, 'SKILL.md'), 'utf8').catch(() => null)
      if (text === null) continue
      const { fields } = parseFrontMatter(text)
      skills.push({ name: fields.name || entry.name, description: fields.description ?? '' })
    }
    return skills.sort((a, b) => a.name.localeCompare(b.name))
  }

  async read(name: string): Promise<SkillSummary & { body: string; files: string[] }> {
    const dir = await this.skillDir(name)
    const text = await readFile(path.join(dir, 'SKILL.md'), 'utf8')
    const { fields, body } = parseFrontMatter(text)
    const files = (await listFiles(dir, '')).filter((f) => f !== 'SKILL.md').sort()
    return { name: fields.name || name, description: fields.description ?? '', body, files }
  }

  async readFile(name: string, rel: string): Promise<{ name: string; path: string; content: string }> {
    if (!rel) throw badRequest('INVALID_PATH', 'query parameter path is required')
    if (path.isAbsolute(rel) || rel.split(/[\\/]/).includes('..') || rel.includes('\0')) {
      throw badRequest('INVALID_PATH', `path ${rel} must be relative to the skill directory and must not contain ..`)
    }
    const dir = await this.skillDir(name)
    const file = path.join(dir, rel)
    let real: string
    try {
      real = await realpath(file)
      if ((await stat(real)).size > MAX_SKILL_FILE_BYTES) throw badRequest('FILE_TOO_LARGE', `${rel} is larger than 1 MiB`)
    } catch (err) {
      if (err instanceof AgentError) throw err
      throw fsError(err, rel)
    }
    // a symlink inside the skill must not lead out of it
    if (real !== dir && !real.startsWith(dir + path.sep)) {
      throw badRequest('INVALID_PATH', `path ${rel} resolves outside the skill directory`)
    }
    try {
      return { name, path: rel, content: await readFile(real, 'utf8') }
    } catch (err) {
      throw fsError(err, rel)
    }
  }

  private async skillDir(name: string): Promise<string> {
    if (!/^[A-Za-z0-9._-]+$/.test(name) || name === '.' || name === '..') {
      throw badRequest('INVALID_SKILL_NAME', `skill name ${name} is not valid`)
    }
    const dir = path.join(this.root, name)
    try {
      await stat(path.join(dir, 'SKILL.md'))
      return await realpath(dir)
    } catch {
      throw notFound(`no skill named ${name} (looked for .agents/skills/${name}/SKILL.md)`)
    }
  }
}

async function listFiles(dir: string, prefix: string, depth = 0): Promise<string[]> {
  if (depth > 8) return []
  const out: string[] = []
  for (const entry of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
    const rel = prefix ? `${prefix}/${entry.name}` : entry.name
    if (entry.isDirectory()) out.push(...(await listFiles(path.join(dir, entry.name), rel, depth + 1)))
    else if (entry.isFile()) out.push(rel)
  }
  return out
}

export const skillRoutes = (workdir: string): FastifyPluginAsync => async (app) => {
  const catalog = new SkillCatalog(workdir)
  app.get('/skills', async () => catalog.list())
  app.get<{ Params: { name: string } }>('/skills/:name', async (req) => catalog.read(req.params.name))
  app.get<{ Params: { name: string }; Querystring: { path?: string } }>('/skills/:name/file', async (req) =>
    catalog.readFile(req.params.name, req.query.path ?? ''),
  )
}
