/**
 * Redaction of a streamed response body. A model that repeats a secret streams it in pieces, one
 * per frame (`"text":"echoing sk-ab"` … `"text":"cd12…"`), so matching the raw text finds no
 * whole secret. The streamed strings of every JSON frame (`data:` lines, or a whole JSON body)
 * are read in order as one text; each secret found in it is cut out of every frame it spans
 * (the first piece becomes the marker, the others empty), then the usual whole-text redaction runs.
 */
import type { SecretRedactor } from '../secrets/redact.ts'
import { marker } from '../secrets/redact.ts'

/** Fields that carry streamed text in the providers' frames (text, tool arguments, reasoning, Responses' `delta`). */
const STREAMED_FIELDS = new Set(['text', 'content', 'partial_json', 'arguments', 'thinking', 'delta', 'refusal', 'reasoning', 'reasoning_content'])

interface Piece {
  line: number
  holder: Record<string, unknown> | unknown[]
  key: string | number
  start: number
  value: string
}

export function redactStreamedBody(body: string, redactor: SecretRedactor): string {
  const lines = body.split('\n')
  const frames = new Map<number, { prefix: string; json: unknown }>()
  const pieces: Piece[] = []
  let joined = ''
  lines.forEach((line, i) => {
    const m = /^(data:\s?)?(\s*[[{].*)$/s.exec(line)
    if (!m) return
    let json: unknown
    try {
      json = JSON.parse(m[2]!)
    } catch {
      return
    }
    frames.set(i, { prefix: m[1] ?? '', json })
    collect(json, (holder, key, value) => {
      pieces.push({ line: i, holder, key, start: joined.length, value })
      joined += value
    })
  })
  const matches = pieces.length ? redactor.matches(joined) : []
  if (matches.length) {
    const changed = new Set<number>()
    for (const piece of pieces) {
      const end = piece.start + piece.value.length
      let out = ''
      let at = piece.start
      for (const match of matches) {
        if (match.end <= piece.start || match.start >= end) continue
        const from = Math.max(match.start, piece.start)
        out += joined.slice(at, from)
        // The marker goes where the secret starts; the pieces after it lose their part of it.
        if (match.start >= piece.start) out += match.kept + marker(match.kind)
        at = Math.min(match.end, end)
      }
      if (at === piece.start) continue
      out += joined.slice(at, end)
      ;(piece.holder as Record<string | number, unknown>)[piece.key] = out
      changed.add(piece.line)
    }
    for (const i of changed) {
      const frame = frames.get(i)!
      lines[i] = frame.prefix + JSON.stringify(frame.json)
    }
  }
  return redactor.redact(lines.join('\n')).text
}

function collect(value: unknown, found: (holder: Record<string, unknown> | unknown[], key: string | number, value: string) => void): void {
  if (Array.isArray(value)) {
    value.forEach((v) => collect(v, found))
    return
  }
  if (value === null || typeof value !== 'object') return
  const obj = value as Record<string, unknown>
  for (const [key, v] of Object.entries(obj)) {
    if (typeof v === 'string') {
      if (STREAMED_FIELDS.has(key)) found(obj, key, v)
    } else collect(v, found)
  }
}
