import { describe, expect, it } from 'vitest'
import { SecretRedactor } from '../../src/secrets/redact.ts'
import { SecretScanner } from '../../src/secrets/scanner.ts'
import type { EphemeralBody } from '../../src/live/ephemeral.ts'

const PROVIDER_KEY = 'sk-ant-api03-Zq7xW2vN9pLm4Kt8RbYc1DfGh'
const AWS_KEY = 'AKIAIOSFODNN7EXAMPLE'
const redactor = new SecretRedactor([{ kind: 'provider_key', value: PROVIDER_KEY }])

describe('secret redaction', () => {
  it('replaces known values and common secret shapes by a marker, and counts each kind', () => {
    const privateKey = '-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----'
    const text = [
      `key=${PROVIDER_KEY}`,
      `aws ${AWS_KEY} aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY`,
      'gh ghp_0123456789abcdefghijABCDEFGHIJ012345 slack xoxb-123456789012-abcdefABCDEF',
      'Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.payload.sig',
      `agent cairn_agent_${'A'.repeat(43)}`,
      privateKey,
    ].join('\n')
    const { text: out, counts } = redactor.redact(text)
    expect(out).toBe(
      [
        'key=[redacted:provider_key]',
        'aws [redacted:aws_access_key] aws_secret_access_key = [redacted:aws_secret_key]',
        'gh [redacted:github_token] slack [redacted:slack_token]',
        'Authorization: Bearer [redacted:authorization_header]',
        'agent [redacted:cairn_token]',
        '[redacted:private_key]',
      ].join('\n'),
    )
    expect(counts).toEqual({ provider_key: 1, aws_access_key: 1, aws_secret_key: 1, github_token: 1, slack_token: 1, authorization_header: 1, cairn_token: 1, private_key: 1 })
  })

  it('leaves ordinary text, and provider signatures inside event data, alone', () => {
    expect(redactor.redact('Ran the tests: 42 passed, AKIA is a prefix').text).toBe('Ran the tests: 42 passed, AKIA is a prefix')
    const code = 'fetch(url, { headers: { Authorization: `Bearer ${token}` } })'
    expect(redactor.redact(code).text).toBe(code)
    const { value, counts } = redactor.redactValue({ parts: [{ type: 'text', text: `use ${AWS_KEY}`, signature: AWS_KEY }], n: 3 })
    expect(value).toEqual({ parts: [{ type: 'text', text: 'use [redacted:aws_access_key]', signature: AWS_KEY }], n: 3 })
    expect(counts).toEqual({ aws_access_key: 1 })
  })

  it('redacts a stream split anywhere, a secret across two chunks included, exactly as the whole text', () => {
    const text = `The key is ${PROVIDER_KEY} and the AWS key is ${AWS_KEY}; Authorization: Bearer abc.def.ghi done.`
    const whole = redactor.redact(text).text
    for (let i = 0; i <= text.length; i++) {
      for (const j of [i, Math.min(text.length, i + 7)]) {
        const s = redactor.stream()
        const published = [s.push(text.slice(0, i)), s.push(text.slice(i, j)), s.push(text.slice(j)), s.flush()]
        expect(published.join(''), `split at ${i}/${j}`).toBe(whole)
        for (const p of published) {
          expect(p).not.toContain(PROVIDER_KEY.slice(0, 12))
          expect(p).not.toContain(AWS_KEY.slice(0, 8))
        }
      }
    }
  })

  it('publishes ordinary text at once, an unfinished word too, and holds back only what could still become a secret', () => {
    const s = redactor.stream()
    expect(s.push('one two thr')).toBe('one two thr')
    expect(s.push('ee four')).toBe('ee four')
    expect(s.flush()).toBe('')
    // Each tail below is, or could grow into, the beginning of a secret: held until it cannot.
    for (const [tail, next] of [
      ['AKI', 'A is a prefix'],
      ['aws_secret_acc', 'ess'],
      ['gh', 'ost'],
      ['Authoriz', 'ed'],
      ['-----BEG', 'IN nothing'],
      ['https://hooks.sl', 'ow'],
      [PROVIDER_KEY.slice(0, 9), ' nothing'],
    ]) {
      const t = redactor.stream()
      expect(t.push(`see ${tail}`), tail).toBe('see ')
      expect(t.push(next).length + t.flush().length, tail).toBe(tail.length + next.length)
    }
    // Only the part of a word that could begin one is held.
    expect(redactor.stream().push('correct.c')).toBe('correct.')
    expect(redactor.stream().push('see xyz_aws_secret')).toBe('see xyz_')
  })

  it('holds an unterminated private key block until it ends', () => {
    const s = redactor.stream()
    const out = [s.push('here: -----BEGIN RSA PRIVATE KEY-----\nMIIEow'), s.push('IBAAKCAQEA'.repeat(20)), s.push('\n-----END RSA PRIVATE KEY----- ok'), s.flush()]
    expect(out.join('')).toBe('here: [redacted:private_key] ok')
    expect(out.slice(0, 2).join('')).not.toContain('MIIEow')
  })

  it('says which kinds a move had redacted, never the value, and redacts deltas per stream', async () => {
    const scanner = new SecretScanner({ knownSecrets: async () => [{ kind: 'provider_key', value: PROVIDER_KEY }] })
    const move = { type: 'CompleteToolCall', callId: 'c1', result: `${PROVIDER_KEY}\n${AWS_KEY}\n` }
    const { command, redactions } = await scanner.redactCommand(move, 'c0')
    expect(command).toEqual({ type: 'CompleteToolCall', callId: 'c1', result: '[redacted:provider_key]\n[redacted:aws_access_key]\n' })
    expect(redactions).toEqual([
      { kind: 'provider_key', count: 1 },
      { kind: 'aws_access_key', count: 1 },
    ])
    expect(JSON.stringify({ command, redactions })).not.toContain(PROVIDER_KEY)

    const published: EphemeralBody[] = []
    const sink = scanner.sink((_chat, item) => void published.push(item))
    const half = Math.floor(PROVIDER_KEY.length / 2)
    sink('c', { kind: 'TextDelta', turnId: 't', delta: `key ${PROVIDER_KEY.slice(0, half)}` }, 's')
    sink('c', { kind: 'TextDelta', turnId: 't', delta: `${PROVIDER_KEY.slice(half)} end` }, 's')
    sink('c', { kind: 'StatusChanged', turnId: 't', status: 'waiting' }, 's')
    const text = published.flatMap((p) => (p.kind === 'TextDelta' ? [p.delta] : [])).join('')
    expect(text).toBe('key [redacted:provider_key] end')
    expect(published.at(-1)).toEqual({ kind: 'StatusChanged', turnId: 't', status: 'waiting' })

    // The runner's next move on the chat (the committed step) releases what the stream still held.
    published.length = 0
    sink('c', { kind: 'TextDelta', turnId: 't2', delta: 'all done, gh' }, 's')
    expect(published).toEqual([{ kind: 'TextDelta', turnId: 't2', delta: 'all done, ' }])
    await scanner.redactCommand(move, 'c')
    expect(published.at(-1)).toEqual({ kind: 'TextDelta', turnId: 't2', delta: 'gh' })
    // So does the end of the model's text (the driver calls `release` when the step's usage or finish comes).
    sink('c', { kind: 'TextDelta', turnId: 't3', delta: 'and xo' }, 's')
    scanner.release('c')
    expect(published.at(-1)).toEqual({ kind: 'TextDelta', turnId: 't3', delta: 'xo' })
  })
})
