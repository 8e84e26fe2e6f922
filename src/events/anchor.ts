/** Events of the `log-anchors` stream: signed checkpoints over the whole log (`cairn events anchor`). */

export const ANCHOR_STREAM = 'log-anchors'

export type AnchorEvent = {
  type: 'LogAnchored'
  data: {
    /** Every event with (xid, position) at or below this checkpoint is covered, in that order. */
    throughCheckpoint: string
    eventCount: number
    /** Hex Merkle root (RFC 6962 shape, SHA-256) over the covered events' stored hashes. */
    merkleRoot: string
    /** SHA-256 of the public key (SPKI DER), first 16 hex characters: which key signed. */
    keyFingerprint: string
    /** Base64 Ed25519 signature of `anchorMessage(...)`. */
    signature: string
  }
}

export type AnchorEventType = AnchorEvent['type']
export const ANCHOR_EVENT_TYPES = ['LogAnchored'] as const satisfies readonly AnchorEventType[]
