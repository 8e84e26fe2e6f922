import { createHash } from 'node:crypto'

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
  return serialize(JSON.parse(JSON.stringify(value) ?? 'null'))
}

/** `canonicalJson` of a value fresh from `JSON.parse` (no `toJSON`, no `undefined`): skips the round trip. */
export const canonicalJsonOfParsed = (value: unknown): string => serialize(value)

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
export function eventHash(previousHash: string, event: HashedContent, options: { parsed?: boolean } = {}): string {
  // `parsed`: data and metadata came from JSON.parse (a verifier reading rows), so no round trip is needed.
  const content = (options.parsed ? canonicalJsonOfParsed : canonicalJson)({
    id: event.id,
    type: event.type,
    data: event.data,
    metadata: event.metadata,
    revision: event.revision.toString(),
    stream: event.stream,
  })
  return createHash('sha256').update(previousHash).update(content).digest('hex')
}
