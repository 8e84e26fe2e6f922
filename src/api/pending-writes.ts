/**
 * Writes this process answered before the read models had them (a fork's answer is built from its
 * event), by the user who made them: that user's later requests to this process wait for them
 * first, so a client reads its own writes without the writing mutation waiting for the
 * projections. Other users' requests never wait for them. Usually empty.
 */
export class PendingWrites {
  readonly #pending = new Map<string, Set<Promise<void>>>()

  /** `applied` settles when the read models have the write (or the wait gave up: reads go on then). */
  add(userId: string, applied: Promise<void>): void {
    let mine = this.#pending.get(userId)
    if (!mine) this.#pending.set(userId, (mine = new Set()))
    const entry: Promise<void> = applied
      .catch(() => {})
      .finally(() => {
        mine.delete(entry)
        if (!mine.size && this.#pending.get(userId) === mine) this.#pending.delete(userId)
      })
    mine.add(entry)
  }

  /** Null when nothing of the user's is pending (no wait at all), else when all of it pending now is applied. */
  settled(userId: string | undefined): Promise<unknown> | null {
    const mine = userId === undefined ? undefined : this.#pending.get(userId)
    return mine?.size ? Promise.all(mine) : null
  }
}
