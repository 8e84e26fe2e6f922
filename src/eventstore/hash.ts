import { hash } from 'node:crypto'

/** The part of an event its hash covers. `revision` is hashed as a decimal string. */
export interface HashedContent {
  id: string
  type: string
  data: unknown
  metadata: unknown
  revision: bigint
  stream: string
}

/**
 * JSON with object keys sorted at every depth. Values go through JSON first (`toJSON`,
 * dropped `undefined`), so what is hashed is exactly what a JSON column gives back.
 */
export function canonicalJson(value: unknown): string {
  return canonicalJsonOfParsed(JSON.parse(JSON.stringify(value) ?? 'null'))
}

/**
 * `canonicalJson` of a value fresh from `JSON.parse` (no `toJSON`, no `undefined`): skips the
 * round trip. The value is copied with each object's keys inserted in sorted order and written
 * by the native `JSON.stringify`, which keeps insertion order — except for integer-like keys,
 * which every object lists first, and `__proto__`: a value with either takes the spelled-out
 * writer. Several times faster than writing it by hand. (`cairn events verify` reads JSON text and
 * skips the parse too: `canonicalJsonOfText` in hash-text.ts.)
 */
export function canonicalJsonOfParsed(value: unknown): string {
  const sorted = sortedCopy(value)
  return sorted === UNSORTABLE ? serialize(value) : JSON.stringify(sorted)
}

const UNSORTABLE = Symbol('unsortable')
const INTEGER_LIKE = /^(?:0|[1-9]\d{0,9})$/

/** The value with every object's keys in sorted order: objects already in order (and their parents) are not copied. */
function sortedCopy(value: unknown): unknown {
  if (typeof value !== 'object' || value === null) return value
  if (Array.isArray(value)) {
    let out: unknown[] | null = null
    for (let i = 0; i < value.length; i++) {
      const item = sortedCopy(value[i])
      if (item === UNSORTABLE) return UNSORTABLE
      if (item !== value[i]) (out ??= value.slice())[i] = item
    }
    return out ?? value
  }
  const record = value as Record<string, unknown>
  const keys = Object.keys(record)
  let inOrder = true
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i]!
    const first = key.charCodeAt(0)
    if ((first === 95 && key === '__proto__') || (first >= 48 && first <= 57 && INTEGER_LIKE.test(key))) return UNSORTABLE
    if (i > 0 && keys[i - 1]! > key) inOrder = false
  }
  let changed = !inOrder
  const items = new Array(keys.length)
  for (let i = 0; i < keys.length; i++) {
    const item = sortedCopy(record[keys[i]!])
    if (item === UNSORTABLE) return UNSORTABLE
    if (item !== record[keys[i]!]) changed = true
    items[i] = item
  }
  if (!changed) return value
  const order = keys.map((_, i) => i)
  if (!inOrder) order.sort((a, b) => (keys[a]! < keys[b]! ? -1 : 1))
  const out: Record<string, unknown> = {}
  for (const i of order) out[keys[i]!] = items[i]
  return out
}

/** The canonical form spelled out: keys sorted at every depth, no whitespace. Tests hold the fast one to it. */
export const canonicalJsonReference = (value: unknown): string => serialize(JSON.parse(JSON.stringify(value) ?? 'null'))

function serialize(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(serialize).join(',')}]`
  if (value !== null && typeof value === 'object') {
    const record = value as Record<string, unknown>
    const keys = Object.keys(record).sort()
    return `{${keys.map((k) => `${JSON.stringify(k)}:${serialize(record[k])}`).join(',')}}`
  }
  return JSON.stringify(value)
}

/** SHA-256 (hex) of the previous event's hash in the stream ('' for the first) and this event's content. */
export function eventHash(previousHash: string, event: HashedContent): string {
  // Keys already in canonical order: the top level is never copied to sort it.
  const content = canonicalJson({
    data: event.data,
    id: event.id,
    metadata: event.metadata,
    revision: event.revision.toString(),
    stream: event.stream,
    type: event.type,
  })
  // One-shot hashing (UTF-8, as the append function's convert_to): half the cost of a Hash object per event.
  return hash('sha256', previousHash + content, 'hex')
}
