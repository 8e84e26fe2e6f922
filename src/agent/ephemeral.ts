import type { EphemeralItem } from '../api/ephemeral.ts'

/**
 * Where the runner publishes what streams before it is committed (token and tool-argument
 * deltas, retry countdowns). These never enter the log; the API fans them out to
 * `chatStream` subscribers on every server process.
 */
export type EphemeralSink = (chatId: string, item: EphemeralItem) => void
