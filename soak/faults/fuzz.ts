// Fault 6: GraphQL inputs fuzzed from the schema — wrong types, huge strings, deep nesting, unknown
// ids, malformed documents and bodies. Every answer must be a clear error (or, for a query, nothing
// found), nothing may be appended, and the API process's memory must stay flat over the rounds.
import { randomUUID } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { request } from 'node:http'
import { fileURLToPath } from 'node:url'
import {
  buildSchema,
  getNamedType,
  isEnumType,
  isInputObjectType,
  isListType,
  isNonNullType,
  isScalarType,
  type GraphQLArgument,
  type GraphQLField,
  type GraphQLInputType,
} from 'graphql'
import { emptyResult, fail, type FaultResult, type SoakContext } from '../context.ts'
import { metricOf, residentBytes } from '../fleet.ts'

const SCHEMA = fileURLToPath(new URL('../../schema.graphql', import.meta.url))
/** Mutations whose ID arguments are names the caller chooses: a fuzzed value is a valid new name. */
const CALLER_NAMED = new Set(['configureProvider', 'configureMcpServer'])
const CONCURRENCY = 4

interface Case {
  kind: 'wrong type' | 'unknown id' | 'huge string' | 'deep nesting' | 'malformed'
  /** The mutation a document runs, when it may run at all: it must be refused. */
  mutation?: string
  request: () => { body: string; contentType?: string; method?: 'GET' | 'POST'; query?: string; declaredLength?: number }
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json }

/** A value the type takes: ids unknown; `huge.text`, when given, goes into the first string or id (one, so the body stays under its limit). */
function valueFor(type: GraphQLInputType, huge: { text: string | null }, depth = 0): Json {
  if (isNonNullType(type)) return valueFor(type.ofType, huge, depth)
  if (isListType(type)) return [valueFor(type.ofType, huge, depth)]
  if (isEnumType(type)) return type.getValues()[0]!.name
  if (isInputObjectType(type)) {
    const out: { [k: string]: Json } = {}
    for (const f of Object.values(type.getFields())) {
      const needed = isNonNullType(f.type) && f.defaultValue === undefined
      if ((needed || getNamedType(f.type).name === 'ID') && depth < 4) out[f.name] = valueFor(f.type, huge, depth + 1)
    }
    return out
  }
  switch (type.name) {
    case 'ID':
      return takeHuge(huge) ?? randomUUID()
    case 'String':
      return takeHuge(huge) ?? 'soak'
    case 'Int':
      return 1
    case 'Float':
      return 1.5
    case 'Boolean':
      return true
    case 'DateTime':
      return new Date().toISOString()
    default:
      return {}
  }
}

function takeHuge(huge: { text: string | null }): string | null {
  const text = huge.text
  huge.text = null
  return text
}

/** A value the argument's type cannot take; null when every value would do (a JSON scalar). */
function wrongValueFor(type: GraphQLInputType): Json | undefined {
  if (isNonNullType(type)) return wrongValueFor(type.ofType)
  if (isListType(type)) {
    const inner = wrongValueFor(type.ofType)
    return inner === undefined ? undefined : [inner]
  }
  if (isEnumType(type)) return 'NOT_A_VALUE'
  if (isInputObjectType(type)) return 42
  if (isScalarType(type)) {
    if (['ID', 'String'].includes(type.name)) return { nested: [1, 2] }
    if (['Int', 'Float'].includes(type.name)) return 'not a number'
    if (type.name === 'Boolean') return 'yes'
    if (type.name === 'DateTime') return 'yesterday-ish'
  }
  return undefined
}

function hasId(type: GraphQLInputType, seen = new Set<string>()): boolean {
  const named = getNamedType(type)
  if (named.name === 'ID') return true
  if (!isInputObjectType(named) || seen.has(named.name)) return false
  seen.add(named.name)
  return Object.values(named.getFields()).some((f) => hasId(f.type, seen))
}

function selectionOf(field: GraphQLField<unknown, unknown>): string {
  const named = getNamedType(field.type)
  return isScalarType(named) || isEnumType(named) ? '' : ' { __typename }'
}

function operation(op: 'query' | 'mutation', field: GraphQLField<unknown, unknown>, args: readonly GraphQLArgument[]): string {
  const vars = args.map((a, i) => `$a${i}: ${String(a.type)}`).join(', ')
  const call = args.length ? `(${args.map((a, i) => `${a.name}: $a${i}`).join(', ')})` : ''
  return `${op} Fuzz${vars ? `(${vars})` : ''} { ${field.name}${call}${selectionOf(field)} }`
}

const json = (query: string, variables: Record<string, Json> = {}) => () => ({ body: JSON.stringify({ query, variables }) })

export function fuzzCases(): Case[] {
  const schema = buildSchema(readFileSync(SCHEMA, 'utf8'))
  const cases: Case[] = []
  for (const [op, root] of [['query', schema.getQueryType()!], ['mutation', schema.getMutationType()!]] as const) {
    for (const field of Object.values(root.getFields())) {
      const args = field.args
      const mutation = op === 'mutation' ? field.name : undefined
      const doc = operation(op, field, args)
      const valid = (hugeText: string | null) => {
        const huge = { text: hugeText }
        return Object.fromEntries(args.map((a, i) => [`a${i}`, valueFor(a.type, huge)]))
      }
      for (const [i, arg] of args.entries()) {
        const wrong = wrongValueFor(arg.type)
        if (wrong !== undefined) cases.push({ kind: 'wrong type', mutation, request: () => json(doc, { ...valid(null), [`a${i}`]: wrong })() })
      }
      const withIds = args.some((a) => hasId(a.type))
      if (!withIds || CALLER_NAMED.has(field.name)) continue
      cases.push({ kind: 'unknown id', mutation, request: () => json(doc, valid(null))() })
      cases.push({ kind: 'huge string', mutation, request: () => json(doc, valid('x'.repeat(600_000)))() })
    }
  }
  // Deep nesting: selections, list literals, JSON values, fragments.
  const deepSelection = `{ chat(id: "${randomUUID()}") ${'{ parent '.repeat(300)}{ id }${' }'.repeat(300)} }`
  cases.push({ kind: 'deep nesting', request: json(deepSelection) })
  cases.push({ kind: 'deep nesting', mutation: 'createChat', request: json(`mutation { createChat(input: { attachmentIds: ${'['.repeat(500)}"x"${']'.repeat(500)} }) { id } }`) })
  let nested: Json = 'x'
  for (let i = 0; i < 2000; i++) nested = { n: nested }
  cases.push({ kind: 'deep nesting', mutation: 'createWorkspace', request: json(`mutation($p: JSON) { createWorkspace(input: { templateId: "${randomUUID()}", parameters: $p }) { id } }`, { p: nested }) })
  cases.push({ kind: 'deep nesting', request: json(`query { ...A } fragment A on Query { ...B } fragment B on Query { ...A }`) })
  cases.push({ kind: 'deep nesting', request: json(`{ ${Array.from({ length: 6000 }, (_, i) => `a${i}: me { id }`).join(' ')} }`) })
  // Malformed documents and bodies.
  const sample = 'mutation { sendMessage(input: { chatId: "00000000-0000-4000-8000-000000000000", text: "hi" }) { messageId } }'
  for (let i = 0; i < 8; i++) cases.push({ kind: 'malformed', request: () => json(sample.slice(0, 5 + Math.floor(Math.random() * (sample.length - 10))))() })
  for (const body of ['{', '{"query": 5}', '{"query": "{ me { id } }", "variables": "x"}', '[]', 'null', '{"query": "{ me { id } }", "operationName": 7}', '\u0000\u0001garbage', '{"query": "query { me { id } } mutation { x }"}'])
    cases.push({ kind: 'malformed', request: () => ({ body }) })
  cases.push({ kind: 'malformed', request: () => ({ body: 'query { me { id } }', contentType: 'text/plain' }) })
  // Over the body limit: the server answers from the declared length, before the body (sent in part) arrives.
  cases.push({ kind: 'malformed', request: () => ({ body: JSON.stringify({ query: `{ me { id } }`, pad: 'x'.repeat(64 * 1024) }), declaredLength: 3 * 1024 * 1024 }) })
  cases.push({ kind: 'malformed', request: () => ({ body: '', method: 'GET', query: '?query=%7B%20me%20%7B' }) })
  cases.push({ kind: 'malformed', mutation: 'sendMessage', request: () => ({ body: '', method: 'GET', query: `?query=${encodeURIComponent(sample)}` }) })
  return cases
}

/** Whether an answer is a clear refusal; for a mutation, it must not have run. */
function judge(c: Case, status: number, text: string): string | null {
  if (status >= 500) return `HTTP ${status}`
  let body: { errors?: { message?: unknown }[]; data?: Record<string, unknown> | null; message?: unknown }
  try {
    body = JSON.parse(text)
  } catch {
    return `not JSON (HTTP ${status})`
  }
  const messages = body.errors?.map((e) => e.message) ?? (status >= 400 && body.message !== undefined ? [body.message] : [])
  if (messages.some((m) => typeof m !== 'string' || !m.trim() || /Cannot read prop|is not a function|undefined is not|\[object /.test(m)))
    return `an unclear message: ${JSON.stringify(messages).slice(0, 160)}`
  if (c.mutation && body.data?.[c.mutation] != null) return `mutation ${c.mutation} ran`
  if (!messages.length && c.kind !== 'unknown id' && c.kind !== 'huge string') return `no error (HTTP ${status})`
  return null
}

async function send(ctx: SoakContext, r: ReturnType<Case['request']>): Promise<{ status: number; text: string }> {
  const res = await fetch(`${ctx.api.url}/graphql${r.query ?? ''}`, {
    method: r.method ?? 'POST',
    headers: { authorization: `Bearer ${ctx.fleet.adminToken}`, ...(r.method === 'GET' ? {} : { 'content-type': r.contentType ?? 'application/json' }) },
    ...(r.method === 'GET' ? {} : { body: r.body }),
    signal: AbortSignal.timeout(30_000),
  })
  return { status: res.status, text: await res.text() }
}

/** A POST whose Content-Length says more than is sent: what an oversized upload looks like to the server at first. */
function postDeclaring(url: string, token: string, body: string, declaredLength: number): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'content-length': declaredLength } }, (res) => {
      let text = ''
      res.on('data', (c: Buffer) => (text += c.toString()))
      res.on('end', () => {
        req.destroy()
        resolve({ status: res.statusCode ?? 0, text })
      })
    })
    req.on('error', reject)
    req.setTimeout(30_000, () => req.destroy(new Error('no answer in 30 s')))
    req.write(body)
  })
}


/** Samples the API process's heap; `stop` gives the heap just after each collection (a drop of a third or more). */
function sampleHeap(ctx: SoakContext): { stop(): Promise<number[]> } {
  let stopped = false
  const floors: number[] = []
  const loop = (async () => {
    let last = NaN
    while (!stopped) {
      const now = await metricOf(ctx.api, 'nodejs_heap_used_bytes').catch(() => NaN)
      if (now < last * 0.67) floors.push(now)
      if (!Number.isNaN(now)) last = now
      await new Promise((r) => setTimeout(r, 200))
    }
  })()
  return {
    async stop() {
      stopped = true
      await loop
      return floors
    },
  }
}

const appendedByApi = (ctx: SoakContext) => metricOf(ctx.api, 'cairn_events_appended_total')

export async function graphqlFuzz(ctx: SoakContext, until: number): Promise<FaultResult> {
  const result = emptyResult('6 GraphQL fuzzing')
  const cases = fuzzCases()
  const problems = new Map<string, number>()
  const appendedBefore = await appendedByApi(ctx)
  const [before] = await ctx.db.query<{ n: string }>('select count(*) as n from events')
  const rss: number[] = []
  const heap = sampleHeap(ctx)
  let rounds = 0
  do {
    let next = 0
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next < cases.length) {
          const c = cases[next++]!
          const r = c.request()
          result.runs++
          result.injected++
          let verdict: string | null
          try {
            const res = r.declaredLength
              ? await postDeclaring(`${ctx.api.url}/graphql`, ctx.fleet.adminToken, r.body, r.declaredLength)
              : await send(ctx, r)
            verdict = judge(c, res.status, res.text)
          } catch (err) {
            const cause = (err as { cause?: { code?: string; message?: string } }).cause
            verdict = `no answer (${cause?.code ?? cause?.message ?? (err as Error).message}) to ${r.method ?? 'POST'} ${(r.query ?? r.body).slice(0, 50)}…`
          }
          if (verdict) {
            const key = `${c.kind}${c.mutation ? ` ${c.mutation}` : ''}: ${verdict}`
            problems.set(key, (problems.get(key) ?? 0) + 1)
          }
        }
      }),
    )
    rounds++
    rss.push(residentBytes(ctx.api.child.pid!))
  } while (Date.now() < until || rounds < 3)
  const floors = await heap.stop()
  const appended = (await appendedByApi(ctx)) - appendedBefore
  const [after] = await ctx.db.query<{ n: string }>('select count(*) as n from events')
  fail(result, appended, `an event appended by the API process while fuzzing (${Number(after!.n) - Number(before!.n)} in the log)`)
  for (const [what, n] of problems) fail(result, n, what)
  // Flat memory: the heap comes back to the same floor after each collection (a leak raises the floor).
  const mib = (n: number) => (n / 2 ** 20).toFixed(0)
  const memory = floors.length >= 2 ? `heap after each collection ${floors.map(mib).join(' → ')} MiB` : `${floors.length} heap collection(s) seen: too few to judge`
  if (floors.length >= 2 && floors.at(-1)! - floors[0]! > 64 * 2 ** 20) {
    result.leaks++
    result.notes.push(`the API process's heap floor rose ${mib(floors.at(-1)! - floors[0]!)} MiB`)
  }
  result.notes.push(`${cases.length} cases × ${rounds} rounds; ${memory}; resident ${mib(rss[0]!)} → ${mib(rss.at(-1)!)} MiB`)
  return result
}
