export * from './types.ts'
export { canonicalJson, eventHash } from './hash.ts'

/**
 * Orders two checkpoints: negative when `a` is before `b`, 0 when equal, positive after.
 * Checkpoints are fixed-width, so they compare as strings; '' (the beginning) is before all.
 */
export function compareCheckpoints(a: string | undefined, b: string | undefined): number {
  const x = a ?? ''
  const y = b ?? ''
  return x < y ? -1 : x > y ? 1 : 0
}
