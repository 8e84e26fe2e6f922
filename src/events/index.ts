/**
 * The event catalogue: every event type Cairn appends, one discriminated union per
 * stream kind. Start here to find an event; `commands/` decides it, `projections/` reads it.
 */
import type { FoldEvent, StoredEvent } from '../eventstore/types.ts'
import type { ChatEvent } from './chat.ts'
import type { UserEvent } from './user.ts'
import type { ConfigEvent } from './config.ts'
import type { TemplateEvent } from './template.ts'
import type { WorkspaceEvent } from './workspace.ts'
import type { AnchorEvent } from './anchor.ts'
import type { OrganizationEvent } from './organization.ts'

export * from './chat.ts'
export * from './user.ts'
export * from './config.ts'
export * from './template.ts'
export * from './workspace.ts'
export * from './anchor.ts'
export * from './organization.ts'

export type CairnEvent = ChatEvent | UserEvent | ConfigEvent | TemplateEvent | WorkspaceEvent | AnchorEvent | OrganizationEvent
export type CairnEventType = CairnEvent['type']

/** A stored event narrowed to one of our unions. */
export type Stored<E extends { type: string; data: unknown }> = E extends unknown ? StoredEvent<E['type'], E['data']> : never

/** An event as a fold reads it (a `Stored` one is one too), narrowed to one of our unions. */
export type Folded<E extends { type: string; data: unknown }> = E extends unknown ? FoldEvent<E['type'], E['data']> : never

/**
 * Schema versions. An event stored with an older version is upcast on read by
 * `upcast`; stored rows are never rewritten. Every type starts at 1.
 */
export const SCHEMA_VERSION = 1

export function upcast<E extends FoldEvent>(event: E): E {
  // No event has a second version yet; when one does, branch on
  // (event.type, event.metadata.schemaVersion) here and return the current shape.
  return event
}
