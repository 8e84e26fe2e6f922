// The hash chain covers canonical JSON: keys sorted at every depth, no whitespace. The fast
// writer (native JSON.stringify with the sorted key list) must match the spelled-out one exactly.
import { describe, expect, it } from 'vitest'
import { canonicalJson, canonicalJsonOfParsed, canonicalJsonReference } from '../../src/eventstore/hash.ts'
import { canonicalJsonOfText } from '../../src/eventstore/hash-text.ts'

const cases: unknown[] = [
  null, true, 0, -1.5e-7, 'text', [], {},
  { b: 1, a: 2, A: 3, _: 4, '': 5, 'ä': 6, 'z\u0000': 7, '\ud83d\ude00': 8, 'é': 9 },
  // Integer-like keys: a JS object lists them first, numerically; canonical order is by string.
  { '10': 'ten', '9': 'nine', '1': 'one', a: { '2': [{ '11': 1, '3': 2 }] } },
  { nested: [{ y: [1, { d: null, c: [] }], x: 'é"\\\n\t' }, [], [[{ b: {}, a: {} }]]], id: 'same key names at other depths', data: { id: 1, type: 2 } },
  { __proto__: 'own' },
  { n: 1e21, m: 123456789012345680000, f: 0.1 + 0.2, neg: -0 },
  JSON.parse('{"__proto__": {"b": 1, "a": 2}, "k": [{"z": 1, "y": {"x": 2, "w": 3}}]}'),
]

/** JSON as PostgreSQL writes a jsonb value: keys by length then bytes, `", "` and `": "` between. */
function jsonbText(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(jsonbText).join(', ')}]`
  if (value !== null && typeof value === 'object') {
    const bytes = (k: string) => Buffer.from(k)
    const keys = Object.keys(value).sort((a, b) => bytes(a).length - bytes(b).length || Buffer.compare(bytes(a), bytes(b)))
    return `{${keys.map((k) => `${JSON.stringify(k)}: ${jsonbText((value as Record<string, unknown>)[k])}`).join(', ')}}`
  }
  return JSON.stringify(value)
}

/** The random documents both writers are held to: tricky keys, strings and numbers, nested. */
function randomDocuments(count: number, seed: number): unknown[] {
  const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31)
  const pick = <T>(xs: T[]) => xs[Math.floor(random() * xs.length)]!
  const key = () => pick(['id', 'type', 'a', 'B', '10', '9', 'é', 'data', '__proto__', 'a"b', 'tab\t', '😀', 'x'.repeat(1 + Math.floor(random() * 3))])
  const leaf = () =>
    pick<unknown>([null, true, false, 0, -3, 1.25, 0.1 + 0.2, 1e21, 1e-7, -0, 123456789012345680000, 'v', '', 'line\n"quoted" \\ \u0001 \u001f', 'ü😀\u2028', '\ud800 lone', ' , : { } [ ] '])
  const doc = (depth: number): unknown => {
    const r = random()
    if (depth > 3 || r < 0.3) return leaf()
    if (r < 0.5) return Array.from({ length: Math.floor(random() * 4) }, () => doc(depth + 1))
    return JSON.parse(`{${Array.from({ length: Math.floor(random() * 5) }, () => `${JSON.stringify(key())}:${JSON.stringify(doc(depth + 1)) ?? 'null'}`).join(',')}}`)
  }
  return Array.from({ length: count }, () => doc(0))
}

describe('canonical JSON', () => {
  it('the writer over JSON text matches the round trip on the text PostgreSQL writes and on any other spacing', () => {
    for (const value of [...cases, ...randomDocuments(500, 11)]) {
      const expected = canonicalJsonReference(value)
      for (const text of [jsonbText(JSON.parse(JSON.stringify(value) ?? 'null')), JSON.stringify(value) ?? 'null', JSON.stringify(value, null, 2) ?? 'null', ` ${JSON.stringify(value)} `]) {
        expect(canonicalJsonOfText(text)).toBe(expected)
      }
    }
  })

  it('the writer over JSON text takes what JSON.parse takes, as it reads it, and refuses what it refuses', () => {
    const valid: [string, string][] = [
      ['{"b": 1, "a": 2, "b": 3}', '{"a":2,"b":3}'], // a repeated key: the last one counts
      ['{"a": 1, "a": 2}', '{"a":2}'],
      ['1E2', '100'],
      ['-0', '0'],
      ['1e400', 'null'],
      ['12345678901234567890', '12345678901234567000'],
      ['1.50', '1.5'],
      ['"\\u0041\\/\\u00e9\\ud83d\\ude00\\u001F\\n"', '"A/é😀\\u001f\\n"'],
      ['{"\\u0062": 1, "a": 2}', '{"a":2,"b":1}'],
      ['[\n1,\t2\r]', '[1,2]'],
      ['"\\ud800"', '"\\ud800"'], // an escaped lone surrogate
      ['"\ud800"', '"\\ud800"'], // a raw one
      ['"\u2028\u00a0"', '"\u2028\u00a0"'],
    ]
    for (const [text, canonical] of valid) expect(canonicalJsonOfText(text), text).toBe(canonical)
    for (const text of ['+1', '01', '.5', '5.', '1.e5', '-', '[1,]', '{"a":1,}', '{"a" 1}', '{a:1}', '[1 2]', 'tru', 'nul', '', ' ', '"abc', '"a\\"', '"\\x"', '"\u0001"', '{"a":1}}', "'a'", 'NaN', '\u00a01']) {
      expect(() => JSON.parse(text), text).toThrow()
      expect(() => canonicalJsonOfText(text), text).toThrow()
    }
  })

  it('the fast writer matches the reference on tricky keys and values', () => {
    for (const value of cases) {
      const parsed = JSON.parse(JSON.stringify(value) ?? 'null')
      expect(canonicalJsonOfParsed(parsed)).toBe(canonicalJsonReference(value))
      expect(canonicalJson(value)).toBe(canonicalJsonReference(value))
    }
  })

  it('matches the reference on random documents', () => {
    let seed = 7
    const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31)
    const key = () => ['id', 'type', 'a', 'B', '10', '9', 'é', 'data', 'x'.repeat(1 + Math.floor(random() * 3))][Math.floor(random() * 9)]!
    const doc = (depth: number): unknown => {
      const r = random()
      if (depth > 3 || r < 0.3) return [null, 1.25, 'v', true, -3][Math.floor(random() * 5)]
      if (r < 0.5) return Array.from({ length: Math.floor(random() * 4) }, () => doc(depth + 1))
      return Object.fromEntries(Array.from({ length: Math.floor(random() * 5) }, () => [key(), doc(depth + 1)]))
    }
    for (let i = 0; i < 500; i++) {
      const value = doc(0)
      expect(canonicalJsonOfParsed(JSON.parse(JSON.stringify(value)))).toBe(canonicalJsonReference(value))
    }
  })
})
