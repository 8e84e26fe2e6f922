/**
 * Every permission rule of Cairn, in one place. Resolvers, routes and subscriptions ask
 * these functions; nothing else decides who may see or change what.
 *
 * - member: sees and changes only their own chats
 * - auditor: reads every chat of the organization and the audit log; changes nothing
 * - admin: does everything in the organization
 *
 * A chat the caller may not see is reported exactly as a chat that does not exist.
 */
import { CommandError } from '../../commands/errors.ts'
import type { Role } from '../events/user.ts'

export interface Principal {
  userId: string
  email: string
  name: string
  role: Role
  organizationId: string
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
  if (p.organizationId !== chat.organizationId) return false
  return p.role === 'admin' || p.role === 'auditor' || chat.ownerId === p.userId
}

export function canChangeChat(p: Principal, chat: ChatOwnership): boolean {
  if (p.organizationId !== chat.organizationId) return false
  return p.role === 'admin' || (p.role === 'member' && chat.ownerId === p.userId)
}

/** Creating a chat (or forking one into a new chat of one's own). Auditors change nothing. */
export function canCreateChats(p: Principal): boolean {
  return p.role !== 'auditor'
}

/** Providers, models, keys, system prompt and tool policy. */
export function canConfigure(p: Principal): boolean {
  return p.role === 'admin'
}

export function canReadAuditLog(p: Principal): boolean {
  return p.role === 'admin' || p.role === 'auditor'
}

export function canManageUsers(p: Principal): boolean {
  return p.role === 'admin'
}

/** The owner a chat listing is limited to: the caller for members, any (null) for others. */
export function chatListOwnerScope(p: Principal, requestedOwner: string | null | undefined): string | null {
  if (p.role === 'member') return p.userId
  return requestedOwner ?? null
}

/** Throws CHAT_NOT_FOUND for a missing or invisible chat, FORBIDDEN for a visible one the caller may not change. */
export function requireChatAccess(p: Principal, chat: ChatOwnership | null, access: 'read' | 'change'): void {
  if (!chat || !canReadChat(p, chat)) throw chatNotFound()
  if (access === 'change' && !canChangeChat(p, chat)) throw new CommandError('FORBIDDEN', 'your role may read this chat but not change it')
}

export function requireChatCreation(p: Principal): void {
  if (!canCreateChats(p)) throw new CommandError('FORBIDDEN', 'auditors cannot create or fork chats')
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

/** Spend limits (`setBudget`, `budgets`): admins of the organization. */
export function canManageBudgets(p: Principal, organizationId: string): boolean {
  return p.role === 'admin' && p.organizationId === organizationId
}
