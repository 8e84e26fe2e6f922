import { eventTypeFilter, excludeSystemEvents, streamNameFilter, type Filter, type RecordedEvent } from '@eventstore/db-client'
import type { ReadAllOptions } from '../types.ts'

export type LogFilter = ReadAllOptions['filter']

/** Our filter, applied on this side (the 6.x `readAll` takes none; ESDB subscriptions take one kind). */
export function matches(record: RecordedEvent, filter: LogFilter): boolean {
  if (filter?.streamPrefix !== undefined && !record.streamId.startsWith(filter.streamPrefix)) return false
  if (filter?.eventTypes !== undefined && !filter.eventTypes.includes(record.type)) return false
  return true
}

/** The one server-side filter ESDB takes: stream prefix, else event types, else no system events. */
export function serverFilter(filter: LogFilter): Filter {
  if (filter?.streamPrefix !== undefined) return streamNameFilter({ prefixes: [filter.streamPrefix] })
  if (filter?.eventTypes !== undefined) {
    return eventTypeFilter({ regex: `^(?:${filter.eventTypes.map(escapeRegExp).join('|')})$` })
  }
  return excludeSystemEvents()
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
}
