import { readFileSync } from 'node:fs'
import os from 'node:os'

let cached: string | undefined

/** The daemon ships with the control plane, so it reports the package version. */
export function daemonVersion(): string {
  if (cached) return cached
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: string }
    cached = pkg.version ?? '0.0.0'
  } catch {
    cached = '0.0.0'
  }
  return cached
}

export function osDescription(): string {
  return `${process.platform} ${os.release()}`
}
