import type { Position } from '@eventstore/db-client'
import type { Checkpoint } from '../types.ts'

/** The checkpoint before every event ('' compares lowest, like the other backends). */
export const BEGINNING: Checkpoint = ''

const WIDTH = 20 // u64 max is 20 decimal digits
const FORMAT = /^(\d{20}):(\d{20})$/

/** `<commit>:<prepare>`, each zero-padded to 20 digits, so string order is `$all` order. */
export function checkpointOf(position: Position): Checkpoint {
  return `${pad(position.commit)}:${pad(position.prepare)}`
}

/** The log position a checkpoint names; undefined for the beginning. */
export function positionOf(checkpoint: Checkpoint): Position | undefined {
  if (checkpoint === BEGINNING) return undefined
  const match = FORMAT.exec(checkpoint)
  if (!match) {
    throw new Error(`InvalidCheckpoint: "${checkpoint}" is not an EventStoreDB checkpoint (<commit>:<prepare>, 20 digits each)`)
  }
  return { commit: BigInt(match[1]!), prepare: BigInt(match[2]!) }
}

export function comparePositions(a: Position, b: Position): number {
  if (a.commit !== b.commit) return a.commit < b.commit ? -1 : 1
  if (a.prepare !== b.prepare) return a.prepare < b.prepare ? -1 : 1
  return 0
}

function pad(value: bigint): string {
  return value.toString(10).padStart(WIDTH, '0')
}
