// A small DER/BER reader: just enough ASN.1 to walk PKCS#7 SignedData and X.509 certificates.
// Indefinite lengths (BER) are accepted because signing tools stream PKCS#7 that way.

export interface Asn1 {
  /** The identifier octet: class, constructed bit and tag number (low tags only). */
  tag: number
  constructed: boolean
  /** The whole element, header included (what a signature covers). */
  raw: Buffer
  /** The content octets (for an indefinite length: without the end-of-contents octets). */
  content: Buffer
  children: Asn1[]
}

export class Asn1Error extends Error {
  override name = 'Asn1Error'
}

export const TAG = {
  integer: 0x02,
  octetString: 0x04,
  oid: 0x06,
  sequence: 0x30,
  set: 0x31,
  utcTime: 0x17,
  generalizedTime: 0x18,
} as const

/** Context-specific tag `[n]`, constructed or primitive. */
export const contextTag = (n: number, constructed = true) => 0x80 | (constructed ? 0x20 : 0) | n

export function parseDer(buf: Buffer): Asn1 {
  const [node, end] = readElement(buf, 0, 0)
  if (end !== buf.length) throw new Asn1Error(`${buf.length - end} trailing bytes after the ASN.1 value`)
  return node
}

function readElement(buf: Buffer, at: number, depth: number): [Asn1, number] {
  if (depth > 40) throw new Asn1Error('ASN.1 nesting is too deep')
  if (at + 2 > buf.length) throw new Asn1Error('ASN.1 value is truncated')
  const tag = buf[at]!
  if ((tag & 0x1f) === 0x1f) throw new Asn1Error('high tag numbers are not supported')
  const constructed = (tag & 0x20) !== 0
  let pos = at + 1
  const first = buf[pos++]!
  if (first === 0x80) {
    if (!constructed) throw new Asn1Error('indefinite length on a primitive value')
    const children: Asn1[] = []
    for (;;) {
      if (pos + 2 > buf.length) throw new Asn1Error('ASN.1 value is truncated (no end-of-contents)')
      if (buf[pos] === 0 && buf[pos + 1] === 0) break
      const [child, next] = readElement(buf, pos, depth + 1)
      children.push(child)
      pos = next
    }
    const contentStart = at + 2
    return [{ tag, constructed, raw: buf.subarray(at, pos + 2), content: buf.subarray(contentStart, pos), children }, pos + 2]
  }
  let length = first
  if (first & 0x80) {
    const bytes = first & 0x7f
    if (bytes > 4) throw new Asn1Error('ASN.1 length is too large')
    length = 0
    for (let i = 0; i < bytes; i++) length = length * 256 + buf[pos++]!
  }
  const end = pos + length
  if (end > buf.length) throw new Asn1Error('ASN.1 value is truncated')
  const content = buf.subarray(pos, end)
  const children: Asn1[] = []
  if (constructed) {
    let p = pos
    while (p < end) {
      const [child, next] = readElement(buf, p, depth + 1)
      if (next > end) throw new Asn1Error('ASN.1 child overruns its parent')
      children.push(child)
      p = next
    }
  }
  return [{ tag, constructed, raw: buf.subarray(at, end), content, children }, end]
}

export function expectTag(node: Asn1 | undefined, tag: number, what: string): Asn1 {
  if (!node || node.tag !== tag) throw new Asn1Error(`expected ${what}`)
  return node
}

export function oidOf(node: Asn1 | undefined): string {
  const n = expectTag(node, TAG.oid, 'an object identifier')
  const bytes = n.content
  if (bytes.length === 0) throw new Asn1Error('empty object identifier')
  const parts: number[] = []
  let value = 0
  for (const b of bytes) {
    value = value * 128 + (b & 0x7f)
    if (!(b & 0x80)) {
      parts.push(value)
      value = 0
    }
  }
  const head = parts.shift()!
  const first = head < 40 ? 0 : head < 80 ? 1 : 2
  return [first, head - first * 40, ...parts].join('.')
}

/** An OCTET STRING's bytes; BER may split it into constructed chunks. */
export function octetsOf(node: Asn1): Buffer {
  if (node.tag === TAG.octetString) return node.content
  if (node.tag === (TAG.octetString | 0x20)) return Buffer.concat(node.children.map(octetsOf))
  throw new Asn1Error('expected an octet string')
}

/** The DER encoding of a SET with these contents (signed attributes are signed as a SET, not as `[0]`). */
export function asSet(node: Asn1): Buffer {
  return Buffer.concat([Buffer.from([TAG.set]), encodeLength(node.content.length), node.content])
}

function encodeLength(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n])
  const bytes: number[] = []
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff)
  return Buffer.from([0x80 | bytes.length, ...bytes])
}
