/** Errors a command can end with. `code` goes to GraphQL `extensions.code`. */
export type CommandErrorCode =
  | 'CHAT_NOT_FOUND'
  | 'NOT_FOUND'
  | 'FORBIDDEN'
  | 'UNAUTHENTICATED'
  | 'FORK_REVISION_OUT_OF_RANGE'
  /** A chat asked about as of a revision it does not have (chat, chatMessages, chatContext). */
  | 'REVISION_OUT_OF_RANGE'
  | 'CHAT_ARCHIVED'
  | 'INVALID_INPUT'
  | 'CONFLICT'
  | 'STALE_RUNNER'
  | 'QUEUED_MESSAGE_NOT_FOUND'
  | 'NO_PENDING_QUESTION'
  | 'QUESTION_NOT_FOUND'
  | 'QUESTION_ALREADY_ANSWERED'
  | 'APPROVAL_NOT_FOUND'
  | 'APPROVAL_ALREADY_DECIDED'
  | 'ALREADY_EXISTS'

export class CommandError extends Error {
  constructor(
    readonly code: CommandErrorCode,
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message)
    this.name = 'CommandError'
  }
}

export const invalidInput = (message: string, details: Record<string, unknown> = {}) =>
  new CommandError('INVALID_INPUT', message, details)
