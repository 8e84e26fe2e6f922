import type { AnchorEvent } from '../../src/events/anchor.ts'
import { CommandError, invalidInput } from '../errors.ts'
import type { Decider } from '../decider.ts'

export type AnchorCommand = { type: 'AnchorLog'; anchor: AnchorEvent['data'] }

export interface AnchorState {
  /** The checkpoint the newest anchor covers through; '' before the first. */
  lastCheckpoint: string
}

/** Anchors only move forward: each covers more of the log than the one before it. */
export function decideAnchor(cmd: AnchorCommand, state: AnchorState): AnchorEvent[] {
  const { anchor } = cmd
  if (!anchor.throughCheckpoint) throw invalidInput('the log is empty: there is nothing to anchor')
  if (!/^[0-9a-f]{64}$/.test(anchor.merkleRoot)) throw invalidInput('merkleRoot must be 64 hex characters')
  if (!anchor.signature) throw invalidInput('an anchor must be signed')
  if (anchor.throughCheckpoint <= state.lastCheckpoint) {
    throw new CommandError('CONFLICT', `the log is already anchored through ${state.lastCheckpoint}; nothing new to anchor`)
  }
  return [{ type: 'LogAnchored', data: anchor }]
}

export const anchorDecider: Decider<AnchorCommand, AnchorState, AnchorEvent> = {
  decide: decideAnchor,
  evolve: (state, event) => (event.type === 'LogAnchored' ? { lastCheckpoint: event.data.throughCheckpoint } : state),
  initialState: () => ({ lastCheckpoint: '' }),
}
