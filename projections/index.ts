import type { Projection } from '../src/projections/types.ts'
import { auditLogProjection } from './audit-log.ts'
import { chatsProjection } from './chats.ts'
import { organizationsProjection } from './organizations.ts'
import { usersProjection } from './users.ts'
import { usageProjection } from './usage.ts'
import { workspacesProjection } from './workspaces.ts'

/**
 * Every read model the server keeps up to date, one file per projection in this folder.
 * Add a projection here and `cairn serve` runs it; `cairn projections rebuild <name>` rebuilds it.
 */
export const projections: Projection[] = [usersProjection, organizationsProjection, chatsProjection, workspacesProjection, auditLogProjection, usageProjection]

export { auditLogProjection, chatsProjection, organizationsProjection, usageProjection, usersProjection, workspacesProjection }
