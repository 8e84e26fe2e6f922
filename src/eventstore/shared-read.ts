import type { ReadAllOptions, ReadAllResult } from './types.ts'

type ReadAll = (options: ReadAllOptions) => Promise<ReadAllResult>

interface Request {
  options: ReadAllOptions
  resolve(result: ReadAllResult): void
  reject(err: unknown): void
}

/**
 * One `readAll` for every reader of the log that asks from the same checkpoint in the same turn
 * of the event loop. An append wakes every projection and the runner's watch at once, and they
 * are usually caught up to the same checkpoint: without this each would read the same page.
 *
 * The shared read takes no stream prefix and the union of the event types (or no type filter if
 * any reader has none); each reader gets the events its own filter passes and the shared page's
 * checkpoint, which is right for every filter: the shared read scanned everything up to it. Its
 * page may be shorter than one read alone would give: `atHead` says whether more may follow.
 */
export function sharedReadAll(read: ReadAll): ReadAll {
  let pending: Request[] = []
  let scheduled = false

  function flush(): void {
    const batch = pending
    pending = []
    scheduled = false
    const groups = new Map<string, Request[]>()
    for (const request of batch) {
      const key = `${request.options.after ?? ''}|${request.options.maxCount ?? ''}`
      const group = groups.get(key)
      if (group) group.push(request)
      else groups.set(key, [request])
    }
    for (const group of groups.values()) void readFor(group)
  }

  async function readFor(group: Request[]): Promise<void> {
    if (group.length === 1) {
      const [only] = group
      return read(only!.options).then(only!.resolve, only!.reject)
    }
    const { after, maxCount } = group[0]!.options
    const types = new Set<string>()
    let anyType = false
    for (const { options } of group) {
      if (options.filter?.eventTypes) for (const t of options.filter.eventTypes) types.add(t)
      else anyType = true
    }
    let page: ReadAllResult
    try {
      page = await read({ after, maxCount, ...(anyType ? {} : { filter: { eventTypes: [...types] } }) })
    } catch (err) {
      for (const request of group) request.reject(err)
      return
    }
    for (const { options, resolve } of group) {
      const prefix = options.filter?.streamPrefix
      const wanted = options.filter?.eventTypes && new Set(options.filter.eventTypes)
      const events = page.events.filter((e) => (!prefix || e.stream.startsWith(prefix)) && (!wanted || wanted.has(e.type)))
      resolve({ events, checkpoint: page.checkpoint, atHead: page.atHead })
    }
  }

  return (options) =>
    new Promise<ReadAllResult>((resolve, reject) => {
      pending.push({ options, resolve, reject })
      if (!scheduled) {
        scheduled = true
        setImmediate(flush)
      }
    })
}
