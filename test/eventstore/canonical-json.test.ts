// The hash chain covers canonical JSON: keys sorted at every depth, no whitespace. The fast
// writer (native JSON.stringify with the sorted key list) must match the spelled-out one exactly.
import { describe, expect, it } from 'vitest'
import { canonicalJson, canonicalJsonOfParsed, canonicalJsonReference } from '../../src/eventstore/hash.ts'

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

describe('canonical JSON', () => {
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
