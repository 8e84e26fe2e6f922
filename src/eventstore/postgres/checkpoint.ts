import type { Checkpoint } from '../types.ts'

/** `(xid, position)` as `"<20-digit xid>:<20-digit position>"`, so checkpoints compare as strings. */
export function formatCheckpoint(xid: string | bigint, position: string | bigint): Checkpoint {
  return `${String(xid).padStart(20, '0')}:${String(position).padStart(20, '0')}`
}

const CHECKPOINT = /^(\d{20}):(\d{20})$/

/** '' or undefined is the beginning of the log. */
export function parseCheckpoint(checkpoint: Checkpoint | undefined): { xid: string; position: string } {
  if (!checkpoint) return { xid: '0', position: '0' }
  const match = CHECKPOINT.exec(checkpoint)
  if (!match) throw new TypeError(`not a checkpoint of this event store: ${JSON.stringify(checkpoint)}`)
  return { xid: BigInt(match[1]!).toString(), position: BigInt(match[2]!).toString() }
}
