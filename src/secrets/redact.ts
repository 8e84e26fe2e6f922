/**
 * Secrets never stored: before the runner appends an event or publishes a delta, text is
 * scanned for the secret values the control plane knows (provider keys, MCP auth secrets when
 * they exist) and for common secret shapes, and each match becomes `[redacted:<kind>]`. The
 * event's metadata records which kinds were redacted and how often — never a value.
 */

/** A secret value the control plane holds, e.g. a provider's API key. */
export interface KnownSecret {
  kind: string
  value: string
}

export interface SecretPattern {
  kind: string
  /** Global. When `keep` is set, that many leading groups are kept (a header's name, a variable's label). */
  regex: RegExp
  keep?: number
  /**
   * Every match begins with one of these (compared case-insensitively): a streamed text holds
   * back only a tail that is, or could still grow into, one of them. Without it, a stream holds
   * back its whole unfinished last word for this pattern.
   */
  starts?: readonly string[]
}

/** Shapes of secrets we never want in the log, whoever they belong to. */
export const SECRET_PATTERNS: SecretPattern[] = [
  { kind: 'private_key', regex: /-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z0-9 ]*PRIVATE KEY-----/g, starts: ['-----BEGIN '] },
  {
    kind: 'aws_access_key',
    regex: /\b(?:AKIA|ASIA|ABIA|ACCA|AIDA|AROA|AIPA|ANPA|ANVA|AGPA)[A-Z0-9]{16}\b/g,
    starts: ['AKIA', 'ASIA', 'ABIA', 'ACCA', 'AIDA', 'AROA', 'AIPA', 'ANPA', 'ANVA', 'AGPA'],
  },
  { kind: 'aws_secret_key', regex: /(aws_secret_access_key["']?\s*[:=]\s*["']?)[A-Za-z0-9/+=]{40}/gi, keep: 1, starts: ['aws_secret_access_key'] },
  {
    kind: 'github_token',
    regex: /\b(?:gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{22,255})\b/g,
    starts: ['ghp_', 'gho_', 'ghu_', 'ghs_', 'ghr_', 'github_pat_'],
  },
  { kind: 'slack_token', regex: /\bxox[abposr]-[A-Za-z0-9-]{10,}/g, starts: ['xoxa-', 'xoxb-', 'xoxp-', 'xoxo-', 'xoxs-', 'xoxr-'] },
  { kind: 'slack_webhook', regex: /https:\/\/hooks\.slack\.com\/services\/[A-Za-z0-9/_-]+/g, starts: ['https://hooks.slack.com/services/'] },
  { kind: 'cairn_token', regex: /\bcairn_[A-Za-z0-9_-]{20,}/g, starts: ['cairn_'] },
  // A header with a credential after its scheme; code that builds one (`Bearer ${token}`) is left alone.
  {
    kind: 'authorization_header',
    regex: /(\bauthorization["']?\s*:\s*["']?)((?:bearer|basic|token|digest)\s+)[A-Za-z0-9._~+/=-]{8,}/gi,
    keep: 2,
    starts: ['authorization'],
  },
]

/** Known values shorter than this are not secrets worth a scan (and would redact ordinary words). */
const MIN_KNOWN_LENGTH = 8
/** Every pattern's secret is one run of non-space characters this long at most (keys, tokens). */
const LONGEST_TOKEN = 300
/** A labelled secret whose value may still be coming on the same line. */
const OPEN_LABEL = /(?:\bauthorization\b|aws_secret_access_key)[^\n]*$/i

export type RedactionCounts = Record<string, number>

interface Match {
  start: number
  end: number
  /** Text kept at the start of the match (a header name), before the marker. */
  kept: string
  kind: string
}

export const marker = (kind: string) => `[redacted:${kind}]`

export class SecretRedactor {
  readonly #known: KnownSecret[]
  /** Every pattern's `starts`, lower-case; null when a pattern has none (a stream then holds whole words). */
  readonly #starts: string[] | null

  constructor(known: readonly KnownSecret[] = [], readonly patterns: readonly SecretPattern[] = SECRET_PATTERNS) {
    // Longest first, so a key that contains another is replaced whole.
    this.#known = known.filter((k) => k.value.length >= MIN_KNOWN_LENGTH).sort((a, b) => b.value.length - a.value.length)
    this.#starts = patterns.every((p) => p.starts) ? patterns.flatMap((p) => p.starts!.map((s) => s.toLowerCase())) : null
  }

  /**
   * The first index at or after `from` where the rest of `text` (one run of non-space
   * characters) begins a pattern's match or could grow into the beginning of one; text.length
   * when nowhere.
   */
  patternCouldStart(text: string, from: number): number {
    const starts = this.#starts
    if (!starts) return from
    const tail = text.slice(from).toLowerCase()
    for (let i = 0; i < tail.length; i++) {
      const rest = tail.slice(i)
      if (starts.some((s) => s.startsWith(rest) || rest.startsWith(s))) return from + i
    }
    return text.length
  }

  get longestKnown(): number {
    return this.#known[0]?.value.length ?? 0
  }

  /** Whether `text` is the unfinished beginning of a known value. */
  startsKnown(text: string): boolean {
    return this.#known.some((k) => k.value.length > text.length && k.value.startsWith(text))
  }

  /** Non-overlapping matches in text order; the earliest (then longest) wins. */
  matches(text: string): Match[] {
    const found: Match[] = []
    for (const k of this.#known) {
      for (let i = text.indexOf(k.value); i !== -1; i = text.indexOf(k.value, i + k.value.length))
        found.push({ start: i, end: i + k.value.length, kept: '', kind: k.kind })
    }
    for (const p of this.patterns) {
      p.regex.lastIndex = 0
      for (let m = p.regex.exec(text); m; m = p.regex.exec(text)) {
        if (m[0].length === 0) {
          p.regex.lastIndex++
          continue
        }
        const kept = p.keep ? m.slice(1, 1 + p.keep).map((g) => g ?? '').join('') : ''
        found.push({ start: m.index, end: m.index + m[0].length, kept, kind: p.kind })
      }
    }
    found.sort((a, b) => a.start - b.start || b.end - a.end)
    const out: Match[] = []
    for (const m of found) if (!out.length || m.start >= out[out.length - 1]!.end) out.push(m)
    return out
  }

  redact(text: string, counts: RedactionCounts = {}): { text: string; counts: RedactionCounts } {
    const ms = this.matches(text)
    if (!ms.length) return { text, counts }
    let out = ''
    let at = 0
    for (const m of ms) {
      out += text.slice(at, m.start) + m.kept + marker(m.kind)
      at = m.end
      counts[m.kind] = (counts[m.kind] ?? 0) + 1
    }
    return { text: out + text.slice(at), counts }
  }

  /**
   * Redacts every string in a JSON value (event data). Provider signatures are opaque tokens
   * the provider verifies byte for byte; they are left alone.
   */
  redactValue<T>(value: T, counts: RedactionCounts = {}): { value: T; counts: RedactionCounts } {
    const walk = (v: unknown, key?: string): unknown => {
      if (typeof v === 'string') return key === 'signature' ? v : this.redact(v, counts).text
      if (Array.isArray(v)) return v.map((x) => walk(x))
      if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x, k)]))
      return v
    }
    return { value: walk(value) as T, counts }
  }

  stream(): StreamingRedactor {
    return new StreamingRedactor(this)
  }
}

/**
 * Redacts a text that arrives in chunks (token deltas). It holds back what the next chunk could
 * turn into a secret — in the trailing run of non-space characters (every key and token is one),
 * the part from where a pattern's match begins or could begin (`SecretPattern.starts`) or a known
 * value's beginning; any match that reaches the end; an unterminated private-key block; the rest
 * of a line that names an `Authorization` or AWS secret whose value has not ended — so a secret
 * split across chunks is never published in parts. Other text, an unfinished word included,
 * flows at once: a held word would reach subscribers only with the next chunk.
 */
export class StreamingRedactor {
  #held = ''

  constructor(private readonly redactor: SecretRedactor) {}

  /** Returns what may be published now (possibly ''). */
  push(chunk: string): string {
    const text = this.#held + chunk
    const cut = this.#safeEnd(text)
    this.#held = text.slice(cut)
    return this.redactor.redact(text.slice(0, cut)).text
  }

  /** The rest, at the end of the stream. */
  flush(): string {
    const rest = this.#held
    this.#held = ''
    return this.redactor.redact(rest).text
  }

  #safeEnd(text: string): number {
    let cut = text.length
    const word = /\S+$/.exec(text)
    if (word) cut = this.redactor.patternCouldStart(text, Math.max(word.index, text.length - Math.max(LONGEST_TOKEN, this.redactor.longestKnown)))
    const ms = this.redactor.matches(text)
    for (const m of ms) if (m.end >= cut) cut = Math.min(cut, m.start)
    const begin = text.lastIndexOf('-----BEGIN ')
    if (begin !== -1 && text.indexOf('-----END ', begin) === -1) cut = Math.min(cut, begin)
    const label = OPEN_LABEL.exec(text)
    if (label && !ms.some((m) => m.start <= label.index && m.end > label.index && m.end < text.length)) cut = Math.min(cut, label.index)
    for (let k = Math.min(this.redactor.longestKnown - 1, text.length); k > 0 && text.length - k < cut; k--) {
      if (this.redactor.startsKnown(text.slice(text.length - k))) {
        cut = text.length - k
        break
      }
    }
    return cut
  }
}
