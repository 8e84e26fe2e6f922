import { hash } from 'node:crypto'
import { canonicalJsonOfParsed, type HashedContent } from './hash.ts'

/**
 * `eventHash` of an event as the database gives it back, data and metadata as JSON text: the
 * same content `cairn_append` hashes, `{"data":…,"id":…,"metadata":…,"revision":"<n>",…}`.
 */
export function eventHashOfText(previousHash: string, event: Omit<HashedContent, 'data' | 'metadata'> & { data: string; metadata: string }): string {
  const content =
    `{"data":${canonicalJsonOfText(event.data)},"id":${JSON.stringify(event.id)},"metadata":${canonicalJsonOfText(event.metadata)}` +
    `,"revision":"${event.revision}","stream":${JSON.stringify(event.stream)},"type":${JSON.stringify(event.type)}}`
  return hash('sha256', previousHash + content, 'hex')
}

/**
 * `canonicalJsonOfParsed(JSON.parse(text))` without building the value: one pass over the text
 * that drops whitespace, sorts each object's keys and writes each leaf as `JSON.stringify` would.
 * `cairn events verify` reads data and metadata as `jsonb::text` (keys ordered by length, `", "`
 * between items) and spends most of its time here: with the hash, about 40% less than parsing,
 * sorting and writing (which builds and drops a copy of every object).
 *
 * Equal to the round trip for every text `JSON.parse` accepts, and throws whatever it throws
 * otherwise, because anything this pass does not take as it is goes through the round trip:
 * a text with a control character (JSON whitespace other than a space included) or a lone
 * surrogate, a repeated key (`JSON.parse` keeps the last), a number `String(Number(…))` might not
 * write as `JSON.stringify(JSON.parse(…))` does (outside JSON's grammar, or not finite), and any
 * syntax it does not expect. A string with an escape is rewritten by the native writer.
 */
export function canonicalJsonOfText(text: string): string {
  if (CONTROL_OR_LONE_SURROGATE.test(text)) return canonicalJsonOfParsed(JSON.parse(text))
  src = text
  at = 0
  top = 0
  nextSlash = slashFrom(0)
  try {
    const out = value()
    if (at !== src.length) throw ROUND_TRIP
    return out
  } catch {
    return canonicalJsonOfParsed(JSON.parse(text))
  } finally {
    src = ''
  }
}

const CONTROL_OR_LONE_SURROGATE = /[\u0000-\u001f]|\p{Cs}/u
const NUMBER = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?$/
const ROUND_TRIP = new Error('take the JSON.parse round trip')

/** The text being read and the position in it (one call at a time: nothing here awaits). */
let src = ''
let at = 0
/** The entries of every object being read, an inner object's above its parent's. */
const keys: string[] = []
const literals: string[] = []
const values: string[] = []
let top = 0

function value(): string {
  skipSpaces()
  const c = src.charCodeAt(at)
  let out: string
  if (c === 34) out = string()
  else if (c === 123) out = object()
  else if (c === 91) out = array()
  else if (c === 116) out = word('true')
  else if (c === 102) out = word('false')
  else if (c === 110) out = word('null')
  else out = number()
  skipSpaces()
  return out
}

function skipSpaces() {
  while (src.charCodeAt(at) === 32) at++
}

function word(w: string): string {
  if (!src.startsWith(w, at)) throw ROUND_TRIP
  at += w.length
  return w
}

function number(): string {
  const start = at
  let c = src.charCodeAt(at)
  while ((c >= 48 && c <= 57) || c === 45 || c === 43 || c === 46 || c === 101 || c === 69) c = src.charCodeAt(++at)
  const token = src.slice(start, at)
  if (!NUMBER.test(token)) throw ROUND_TRIP
  const n = Number(token)
  if (!Number.isFinite(n)) throw ROUND_TRIP
  return String(n)
}

/** Set by `closingQuote`: the literal holds a backslash. */
let escaped = false
/** The first backslash at or after the last one passed (`src.length` when none): each is found once per text. */
let nextSlash = 0

/** The index of the quote that closes the string literal opening at `start`. */
function closingQuote(start: number): number {
  let end = src.indexOf('"', start + 1)
  escaped = false
  if (end === -1) throw ROUND_TRIP
  if (nextSlash < start) nextSlash = slashFrom(start)
  while (nextSlash < end) {
    escaped = true
    if (nextSlash + 1 === end) end = src.indexOf('"', end + 1) // an escaped quote does not close
    if (end === -1) throw ROUND_TRIP
    nextSlash = slashFrom(nextSlash + 2)
  }
  return end
}

function slashFrom(from: number): number {
  const i = src.indexOf('\\', from)
  return i === -1 ? src.length : i
}

function string(): string {
  const start = at
  at = closingQuote(start) + 1
  const literal = src.slice(start, at)
  return escaped ? JSON.stringify(JSON.parse(literal)) : literal
}

function object(): string {
  at++
  skipSpaces()
  if (src.charCodeAt(at) === 125) {
    at++
    return '{}'
  }
  const base = top
  let sorted = true
  for (;;) {
    const start = at
    if (src.charCodeAt(start) !== 34) throw ROUND_TRIP
    const end = closingQuote(start)
    at = end + 1
    let key: string
    let literal: string
    if (escaped) {
      key = JSON.parse(src.slice(start, at))
      literal = JSON.stringify(key)
    } else {
      key = src.slice(start + 1, end)
      literal = src.slice(start, at)
    }
    skipSpaces()
    if (src.charCodeAt(at) !== 58) throw ROUND_TRIP
    at++
    const item = value()
    if (top > base && !(keys[top - 1]! < key)) sorted = false
    keys[top] = key
    literals[top] = literal
    values[top] = item
    top++
    const c = src.charCodeAt(at++)
    if (c === 125) break
    if (c !== 44) throw ROUND_TRIP
    skipSpaces()
  }
  if (!sorted) sortEntries(base)
  let out = '{' + literals[base] + ':' + values[base]
  for (let i = base + 1; i < top; i++) out += ',' + literals[i] + ':' + values[i]
  top = base
  return out + '}'
}

/** Insertion sort of the entries from `base` by key, as `Array#sort` compares strings. */
function sortEntries(base: number) {
  for (let i = base + 1; i < top; i++) {
    const key = keys[i]!
    const literal = literals[i]!
    const item = values[i]!
    let j = i - 1
    while (j >= base && keys[j]! > key) {
      keys[j + 1] = keys[j]!
      literals[j + 1] = literals[j]!
      values[j + 1] = values[j]!
      j--
    }
    if (j >= base && keys[j] === key) throw ROUND_TRIP // a repeated key: JSON.parse keeps the last
    keys[j + 1] = key
    literals[j + 1] = literal
    values[j + 1] = item
  }
}

function array(): string {
  at++
  skipSpaces()
  if (src.charCodeAt(at) === 93) {
    at++
    return '[]'
  }
  let out = '[' + value()
  for (;;) {
    const c = src.charCodeAt(at++)
    if (c === 93) break
    if (c !== 44) throw ROUND_TRIP
    out += ',' + value()
  }
  return out + ']'
}
