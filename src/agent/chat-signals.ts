/**
 * Wake-ups for code that waits on another chat (wait_agent waits on a sub-agent): the runner's
 * one watch of the log per process calls `notify` when a chat's turn ends or it is archived, on
 * whichever process that happened. Nothing is held while waiting — no database connection, no
 * subscription of its own.
 */
export class ChatSignals {
  readonly #waiters = new Map<string, Set<() => void>>()

  /** Event types after which a waiter on the chat should look again. */
  static readonly TYPES = ['TurnCompleted', 'TurnInterrupted', 'TurnFailed', 'QuestionAsked', 'ChatArchived'] as const

  notify(chatId: string): void {
    const waiters = this.#waiters.get(chatId)
    if (!waiters) return
    this.#waiters.delete(chatId)
    for (const wake of waiters) wake()
  }

  /**
   * A promise that settles at the chat's next signal, after `timeoutMs`, or when `signal` aborts —
   * whichever is first. Register it before looking at the chat, so a change in between is not missed.
   */
  next(chatId: string, timeoutMs: number, signal: AbortSignal): Promise<'signalled' | 'timeout' | 'aborted'> {
    return new Promise((resolve) => {
      let waiters = this.#waiters.get(chatId)
      if (!waiters) this.#waiters.set(chatId, (waiters = new Set()))
      const finish = (outcome: 'signalled' | 'timeout' | 'aborted') => {
        clearTimeout(timer)
        signal.removeEventListener('abort', onAbort)
        const set = this.#waiters.get(chatId)
        set?.delete(wake)
        if (set?.size === 0) this.#waiters.delete(chatId)
        resolve(outcome)
      }
      const wake = () => finish('signalled')
      const onAbort = () => finish('aborted')
      const timer = setTimeout(() => finish('timeout'), Math.max(0, timeoutMs))
      if (signal.aborted) return onAbort()
      signal.addEventListener('abort', onAbort, { once: true })
      waiters.add(wake)
    })
  }
}
