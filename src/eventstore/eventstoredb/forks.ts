import type { StreamMetadata } from '@eventstore/db-client'

/**
 * ESDB has no fork. A fork is a child stream whose stream metadata (a custom key on its
 * metastream `$$<child>`) names the parent and the cut revision. The child's own ESDB events
 * are 0-based, so ours = cut + 1 + esdbRevision; reads return the parent's 0..cut (recursively,
 * for a fork of a fork) and then the child's own events. Nothing is copied.
 *
 * A fork exists as soon as its metadata is written, even before it has events of its own: its
 * revision is then the cut. The metadata is written with the metastream's expected revision
 * NO_STREAM, so two writers cannot both claim the same stream.
 */
export const FORK_KEY = 'cairn.forkOf'

export interface ForkOrigin {
  stream: string
  revision: bigint
}

/** One ESDB stream's share of a lineage: ours = offset + esdbRevision, kept only up to `upTo`. */
export interface Segment {
  esdbStream: string
  offset: bigint
  upTo?: bigint
}

export function forkMetadata(origin: ForkOrigin): StreamMetadata {
  // bigint is not JSON: the revision is stored as a decimal string.
  return { [FORK_KEY]: { stream: origin.stream, revision: origin.revision.toString(10) } }
}

export function forkOriginIn(metadata: StreamMetadata | undefined): ForkOrigin | undefined {
  const value = metadata?.[FORK_KEY]
  if (value === null || typeof value !== 'object') return undefined
  const { stream, revision } = value as { stream?: unknown; revision?: unknown }
  if (typeof stream !== 'string' || typeof revision !== 'string' || !/^\d+$/.test(revision)) return undefined
  return { stream, revision: BigInt(revision) }
}

export function sameOrigin(a: ForkOrigin | undefined, b: ForkOrigin | undefined): boolean {
  return a?.stream === b?.stream && a?.revision === b?.revision
}

/** The lineage of `stream`: the parent's segments cut at `origin.revision`, then its own. */
export function forkSegments(stream: string, origin: ForkOrigin, parent: Segment[]): Segment[] {
  const inherited = parent
    .filter((segment) => segment.offset <= origin.revision)
    .map((segment) => ({
      ...segment,
      upTo: segment.upTo === undefined || segment.upTo > origin.revision ? origin.revision : segment.upTo,
    }))
  return [...inherited, { esdbStream: stream, offset: origin.revision + 1n }]
}
