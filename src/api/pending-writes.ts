/**
 * Writes this process answered before the read models had them (a fork's answer is built from its
 * event): every later request of this process waits for them first, so a client reads its own
 * writes without the writing mutation waiting for the projections. Usually empty.
 */
export class PendingWrites {
  readonly #pending = new Set<Promise<void>>()

  /** `applied` settles when the read models have the write (or the wait gave up: reads go on then). */
  add(applied: Promise<void>): void {
    const entry: Promise<void> = applied.catch(() => {}).finally(() => this.#pending.delete(entry))
    this.#pending.add(entry)
  }

  /** Null when nothing is pending (no wait at all), else when everything pending now is applied. */
  settled(): Promise<unknown> | null {
    return this.#pending.size ? Promise.all(this.#pending) : null
  }
}
