/**
 * Every permission rule of Cairn, in one place. Resolvers, routes and subscriptions ask
 * these functions; nothing else decides who may see or change what.
 *
 * A request acts in one organization (the `X-Cairn-Organization` header; default: the caller's
 * home organization), and the caller's roles there decide:
 *
 * - member: sees and changes only their own chats
 * - agents-access: may use agents there (create chats, send messages); any role can hold it
 * - auditor: reads every chat of the organization and the audit log; changes nothing
 * - admin: does everything in the organization
 * - an admin of the default organization also configures the instance (providers, models,
 *   system prompt, tools, MCP servers, retention, debug logging) and creates organizations
 *
 * A caller with no role in the organization can do nothing there. A chat the caller may not see
 * is reported exactly as a chat that does not exist.
 */
import { CommandError } from '../../commands/errors.ts'
import { AGENTS_ACCESS, DEFAULT_ORGANIZATION_ID, type OrgRoles, type Role } from '../events/user.ts'

export interface Principal {
  userId: string
  email: string
  name: string
  /** The organization this request acts in. */
  organizationId: string
  homeOrganizationId: string
  /** The caller's admin/auditor/member role in `organizationId`; null when not a member of it. */
  role: Role | null
  /** Holds agents-access in `organizationId`. */
  agentsAccess: boolean
  /** Every organization the caller belongs to, with their roles there. */
  orgRoles: OrgRoles
  /** The API token the caller authenticated with (its id; a live connection ends when it is revoked). */
  tokenId?: string
}

/** What the rules need to know about a chat. */
export interface ChatOwnership {
  ownerId: string
  organizationId: string
}

export const CHAT_NOT_FOUND_MESSAGE = 'chat not found'

export const chatNotFound = () => new CommandError('CHAT_NOT_FOUND', CHAT_NOT_FOUND_MESSAGE)

export function requirePrincipal(principal: Principal | null): Principal {
  if (!principal) throw new CommandError('UNAUTHENTICATED', 'send an API token: Authorization: Bearer cairn_…')
  return principal
}

export function canReadChat(p: Principal, chat: ChatOwnership): boolean {
  if (p.organizationId !== chat.organizationId || !p.role) return false
  return p.role === 'admin' || p.role === 'auditor' || chat.ownerId === p.userId
}

export function canChangeChat(p: Principal, chat: ChatOwnership): boolean {
  if (p.organizationId !== chat.organizationId) return false
  return p.role === 'admin' || (p.role === 'member' && chat.ownerId === p.userId)
}

/** Using agents in the organization: creating or forking a chat, sending it a message. Auditors change nothing. */
export function canUseAgents(p: Principal): boolean {
  return p.agentsAccess && (p.role === 'admin' || p.role === 'member')
}

/** The instance's configuration: providers, models, keys, system prompt, tool policy, MCP servers, retention. */
export function canConfigure(p: Principal): boolean {
  return p.role === 'admin' && p.organizationId === DEFAULT_ORGANIZATION_ID
}

export function canReadAuditLog(p: Principal): boolean {
  return p.role === 'admin' || p.role === 'auditor'
}

/**
 * An admin of `organizationId` (whichever organization the request acts in): grants and revokes
 * roles there, lists its members, revokes their tokens, sets its budgets and approval policies.
 */
export function isOrganizationAdmin(p: Principal, organizationId: string): boolean {
  return (p.orgRoles[organizationId] ?? []).includes('admin')
}

/** Listings of an organization (chats, templates, workspaces, chat changes) need a role in it. */
export function requireMembership(p: Principal): void {
  if (!p.role) throw new CommandError('FORBIDDEN', 'you are not a member of this organization')
}

/** The owner a chat listing is limited to: the caller for members, any (null) for auditors and admins. */
export function chatListOwnerScope(p: Principal, requestedOwner: string | null | undefined): string | null {
  requireMembership(p)
  if (p.role !== 'admin' && p.role !== 'auditor') return p.userId
  return requestedOwner ?? null
}

/** Throws CHAT_NOT_FOUND for a missing or invisible chat, FORBIDDEN for a visible one the caller may not change. */
export function requireChatAccess(p: Principal, chat: ChatOwnership | null, access: 'read' | 'change'): void {
  if (!chat || !canReadChat(p, chat)) throw chatNotFound()
  if (access === 'change' && !canChangeChat(p, chat)) throw new CommandError('FORBIDDEN', 'your role may read this chat but not change it')
}

export function requireAgentsAccess(p: Principal): void {
  if (canUseAgents(p)) return
  if (p.role === 'auditor') throw new CommandError('FORBIDDEN', 'auditors cannot create, fork or message chats')
  throw new CommandError('FORBIDDEN', `using agents in this organization needs the ${AGENTS_ACCESS} role; ask an admin of the organization to grant it`)
}

export function requireAuditLog(p: Principal): void {
  if (!canReadAuditLog(p)) throw new CommandError('FORBIDDEN', 'only auditors and admins may read the audit log')
}

/** An attachment: the uploader, or whoever may read a chat that references it. */
export function canReadAttachment(p: Principal, attachment: { uploadedBy: string; organizationId: string }, referencingChats: ChatOwnership[]): boolean {
  if (attachment.organizationId !== p.organizationId) return false
  if (attachment.uploadedBy === p.userId) return true
  return referencingChats.some((chat) => canReadChat(p, chat))
}

/**
 * A chat's debug log (raw provider traffic): its owner and admins of its organization. Auditors,
 * who read the chat, are refused (FORBIDDEN: the chat's existence is no secret to them); to anyone
 * else the chat does not exist.
 */
export function requireChatDebugLogAccess(p: Principal, chat: ChatOwnership | null): void {
  if (!chat || !canReadChat(p, chat)) throw chatNotFound()
  if (!(p.role === 'admin' || chat.ownerId === p.userId)) throw new CommandError('FORBIDDEN', "only the chat's owner and admins may read its debug log")
}

/** Model usage (`usage`): admins read anyone's in their organization; everyone reads their own. */
export function canReadUsageOf(p: Principal, userId: string): boolean {
  return p.role === 'admin' || p.userId === userId
}
