/**
 * Signed checkpoints of the whole log. An anchor is a Merkle root over every event's stored hash
 * up to a checkpoint, signed with an Ed25519 key kept outside the database. Someone with write
 * access to the database can recompute every hash chain so each stream verifies on its own; they
 * cannot produce a root the key signed, so `verifyAnchors` still catches the rewrite.
 */
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, randomUUID, sign, verify, type KeyObject } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { anchorDecider } from '../../commands/anchor/decide.ts'
import { handleCommand } from '../../commands/handler.ts'
import type { Database, Sql } from '../db/database.ts'
import { ANCHOR_STREAM, type AnchorEvent } from '../events/anchor.ts'
import { canonicalJson } from '../eventstore/hash.ts'
import { formatCheckpoint, parseCheckpoint } from '../eventstore/postgres/checkpoint.ts'
import type { EventStore } from '../eventstore/types.ts'
import { MerkleBuilder } from './merkle.ts'

export type AnchorData = AnchorEvent['data']

/** Where the signing key lives: `CAIRN_ANCHOR_KEY` (a PEM file path), else `<data dir>/anchor.key`. */
export function anchorKeyPath(dataDir: string, env: Record<string, string | undefined>): string {
  return env.CAIRN_ANCHOR_KEY?.trim() || join(dataDir, 'anchor.key')
}

/** The private key for `cairn events anchor`; created (mode 0600) on first use when absent. */
export function loadOrCreateSigningKey(path: string): KeyObject {
  if (!existsSync(path)) {
    const { privateKey } = generateKeyPairSync('ed25519')
    mkdirSync(dirname(path), { recursive: true })
    writeFileSync(path, privateKey.export({ format: 'pem', type: 'pkcs8' }), { mode: 0o600, flag: 'wx' })
  }
  return createPrivateKey(readFileSync(path))
}

/**
 * The key `verify` checks anchors with: `CAIRN_ANCHOR_PUBLIC_KEY` (a PEM file, for auditors who
 * must not hold the signing key), else the public half of the signing key; null when neither exists.
 */
export function loadVerifyingKey(dataDir: string, env: Record<string, string | undefined>): { key: KeyObject; source: string } | null {
  const publicPath = env.CAIRN_ANCHOR_PUBLIC_KEY?.trim()
  if (publicPath) return { key: createPublicKey(readFileSync(publicPath)), source: publicPath }
  const privatePath = anchorKeyPath(dataDir, env)
  if (!existsSync(privatePath)) return null
  return { key: createPublicKey(createPrivateKey(readFileSync(privatePath))), source: privatePath }
}

export function keyFingerprint(key: KeyObject): string {
  const publicKey = key.type === 'private' ? createPublicKey(key) : key
  return createHash('sha256').update(publicKey.export({ format: 'der', type: 'spki' })).digest('hex').slice(0, 16)
}

/** The bytes an anchor's signature covers. */
export function anchorMessage(anchor: Pick<AnchorData, 'throughCheckpoint' | 'eventCount' | 'merkleRoot'>): Buffer {
  return Buffer.from(
    canonicalJson({ format: 'cairn-log-anchor-v1', throughCheckpoint: anchor.throughCheckpoint, eventCount: anchor.eventCount, merkleRoot: anchor.merkleRoot }),
  )
}

const SCAN_PAGE = 10_000

/**
 * Feeds every event's stored hash in `(xid, position)` order (the order readers of the log see)
 * to `onEvent`; `stopAt` ends the scan after that checkpoint. Only rows below the oldest running
 * transaction are read, so no late commit can land inside a range already covered.
 */
async function scanLog(sql: Sql, stopAt: string, onEvent: (hash: string, checkpoint: string) => void): Promise<void> {
  const stop = parseCheckpoint(stopAt)
  let after = parseCheckpoint('')
  for (;;) {
    const rows = await sql.query<{ hash: string; xid: string; position: string }>(
      // Columns qualified throughout: a bare name in ORDER BY is the text output column ('9' > '10').
    `select e.hash, e.xid::text as xid, e.position::text as position from events e
       where e.xid < pg_snapshot_xmin(pg_current_snapshot())
         and (e.xid, e.position) > ($1::xid8, $2::bigint) and (e.xid, e.position) <= ($3::xid8, $4::bigint)
       order by e.xid, e.position limit $5`,
      [after.xid, after.position, stop.xid, stop.position, SCAN_PAGE],
    )
    for (const row of rows) onEvent(row.hash, formatCheckpoint(row.xid, row.position))
    if (rows.length < SCAN_PAGE) return
    const tail = rows[rows.length - 1]!
    after = { xid: tail.xid, position: tail.position }
  }
}

export async function headOfLog(sql: Sql): Promise<string> {
  const rows = await sql.query<{ xid: string; position: string }>(
    // Qualified: a bare `position` in ORDER BY would sort the text output column ('9' > '10').
    `select e.xid::text as xid, e.position::text as position from events e
     where e.xid < pg_snapshot_xmin(pg_current_snapshot()) order by e.xid desc, e.position desc limit 1`,
  )
  return rows[0] ? formatCheckpoint(rows[0].xid, rows[0].position) : ''
}

/** Computes, signs and appends an anchor over the whole log as it stands now. */
export async function anchorLog(db: Database, store: EventStore, signingKey: KeyObject): Promise<AnchorData> {
  const throughCheckpoint = await headOfLog(db)
  const tree = new MerkleBuilder()
  if (throughCheckpoint) await scanLog(db, throughCheckpoint, (hash) => tree.add(hash))
  const unsigned = { throughCheckpoint, eventCount: tree.count, merkleRoot: tree.root() }
  const anchor: AnchorData = {
    ...unsigned,
    keyFingerprint: keyFingerprint(signingKey),
    signature: sign(null, anchorMessage(unsigned), signingKey).toString('base64'),
  }
  const commandId = randomUUID()
  await handleCommand(store, ANCHOR_STREAM, anchorDecider, { type: 'AnchorLog', anchor }, {
    commandId,
    metadata: { actor: { kind: 'system', id: 'cairn-events-anchor' }, correlationId: commandId, causationId: commandId },
  })
  return anchor
}

export interface AnchorCheck {
  revision: bigint
  throughCheckpoint: string
  ok: boolean
  message: string
}

export interface AnchorVerification {
  ok: boolean
  anchors: AnchorCheck[]
}

/**
 * Checks every anchor's signature with `key`, then recomputes each root in one pass over the
 * log: every anchor covers a prefix of the `(xid, position)` order, so one builder serves all.
 */
export async function verifyAnchors(db: Database, key: KeyObject | null): Promise<AnchorVerification> {
  const rows = await db.query<{ revision: string; data: string }>(
    `select e.revision::text as revision, e.data::text as data from events e where e.stream = $1 order by e.revision`,
    [ANCHOR_STREAM],
  )
  const anchors = rows.map((r) => ({ revision: BigInt(r.revision), data: JSON.parse(r.data) as AnchorData }))
  if (!anchors.length) return { ok: true, anchors: [] }
  const checks: AnchorCheck[] = []
  if (!key) {
    return {
      ok: false,
      anchors: anchors.map((a) => ({
        revision: a.revision,
        throughCheckpoint: a.data.throughCheckpoint,
        ok: false,
        message: 'no key to check it with: set CAIRN_ANCHOR_PUBLIC_KEY (or CAIRN_ANCHOR_KEY) to the anchor key file',
      })),
    }
  }
  const fingerprint = keyFingerprint(key)
  const pending = [...anchors].sort((a, b) => (a.data.throughCheckpoint < b.data.throughCheckpoint ? -1 : 1))
  const roots = new Map<string, { count: number; root: string }>()
  const tree = new MerkleBuilder()
  let next = 0
  const last = pending[pending.length - 1]!.data.throughCheckpoint
  // Records the root for every anchor that ends before `checkpoint` (all remaining when null).
  const settleBefore = (checkpoint: string | null) => {
    while (next < pending.length && (checkpoint === null || pending[next]!.data.throughCheckpoint < checkpoint)) {
      roots.set(pending[next]!.data.throughCheckpoint, { count: tree.count, root: tree.root() })
      next++
    }
  }
  await scanLog(db, last, (hash, checkpoint) => {
    settleBefore(checkpoint)
    tree.add(hash)
  })
  settleBefore(null)
  for (const a of anchors) {
    const { throughCheckpoint, eventCount, merkleRoot, signature } = a.data
    const check = (ok: boolean, message: string) => checks.push({ revision: a.revision, throughCheckpoint, ok, message })
    let signed = false
    try {
      signed = verify(null, anchorMessage(a.data), key, Buffer.from(signature, 'base64'))
    } catch {
      signed = false
    }
    if (!signed) {
      check(false, `signature does not verify with key ${fingerprint} (anchor names key ${a.data.keyFingerprint}): the anchor was forged or altered, or this is not the key that signed it`)
      continue
    }
    const now = roots.get(throughCheckpoint)!
    if (now.count !== eventCount || now.root !== merkleRoot) {
      check(
        false,
        `the log through ${throughCheckpoint} no longer matches the signed root: ${eventCount} events signed, ${now.count} now` +
          `${now.count === eventCount ? ' (same count, different content or order)' : ''}; events were changed, deleted or inserted`,
      )
      continue
    }
    check(true, `${eventCount} events, root ${merkleRoot.slice(0, 16)}…`)
  }
  return { ok: checks.every((c) => c.ok), anchors: checks }
}
