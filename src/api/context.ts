import type { WebSocket } from 'ws'
import type { AttachmentLoader } from '../agent/context.ts'
import type { ToolRegistry } from '../agent/tools/registry.ts'
import type { ConfigService } from '../config/service.ts'
import type { Database } from '../db/database.ts'
import type { EventMetadata, EventStore } from '../eventstore/types.ts'
import { canConfigure, requirePrincipal, type Principal } from '../identity/permissions.ts'
import { CommandError } from '../../commands/errors.ts'
import type { ProjectionEngine } from '../projections/types.ts'
import type { ChatChangeFeed } from './chat-changes.ts'
import type { ChatFoldMemo } from '../asof/fold-memo.ts'
import type { EphemeralPubSub } from '../live/ephemeral.ts'
import type { PendingWrites } from './pending-writes.ts'

/** What the resolvers use; one per server process. */
export interface ApiServices {
  db: Database
  store: EventStore
  /** Whether `store` is the database's own `events` table (audit reads that query it directly need it). */
  logInDatabase: boolean
  engine: ProjectionEngine
  ephemeral: EphemeralPubSub
  chatChanges: ChatChangeFeed
  /** Checkpoints of as-of folds, so stepping through a long chat's revisions does not fold it from the start each time. */
  chatFolds: ChatFoldMemo
  /** Absent only in servers built without the agent (some tests). */
  config?: ConfigService
  /** The runner's tools and attachment loader, for `chatContext`; absent without the agent. */
  tools?: ToolRegistry
  loadAttachment?: AttachmentLoader
  /** Most items one subscription may buffer before its client is disconnected. */
  subscriptionBuffer: number
  /** How long a subscriber may take no item while its buffer is half full before it is disconnected. */
  slowSubscriberMs: number
  /** How long a mutation waits for the read models to include its own write. */
  readYourWriteTimeoutMs: number
  /** Writes answered before the read models had them: their user's requests wait for them first. */
  pendingWrites: PendingWrites
}

/** The GraphQL context of one request or one WebSocket connection. */
export interface ApiContext {
  api: ApiServices
  principal: Principal | null
  /** Becomes the correlation id of every event the request appends. */
  requestId: string
  /** Only for subscriptions: the connection, closed when its subscriber falls too far behind. */
  socket?: WebSocket
  /** Only for subscriptions: the client's id of the subscription. */
  id?: string
  /** The database did not answer while the request was authenticated: every field refuses with DATABASE_UNAVAILABLE. */
  databaseUnavailable?: boolean
}

export function eventMetadata(ctx: ApiContext, principal: Principal, commandId: string): EventMetadata {
  return {
    actor: { kind: 'user', id: principal.userId },
    organizationId: principal.organizationId,
    correlationId: ctx.requestId,
    causationId: commandId,
  }
}

/** The caller, who must be an admin (configuration, MCP servers, budgets, debug logging). */
export function requireAdmin(ctx: ApiContext): Principal {
  const principal = requirePrincipal(ctx.principal)
  if (!canConfigure(principal)) throw new CommandError('FORBIDDEN', 'only admins change the configuration')
  return principal
}

/** The server's configuration service (absent only on a server built without one). */
export function configService(ctx: ApiContext): ConfigService {
  if (!ctx.api.config) throw new CommandError('NOT_FOUND', 'configuration is not available on this server')
  return ctx.api.config
}
