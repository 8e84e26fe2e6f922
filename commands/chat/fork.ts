import type { ChatEvent } from '../../src/events/chat.ts'
import { CommandError, invalidInput } from '../errors.ts'
import { LIMITS } from './commands.ts'
import type { ChatState } from './state.ts'

export interface ForkChatCommand {
  chatId: string
  ownerId: string
  organizationId: string
  atRevision: number
  title?: string
}

/**
 * Decides the first event of a fork from the source's state folded up to the cut.
 * Tool calls the cut leaves open are closed as not executed, so the model context stays valid.
 */
export function decideFork(cmd: ForkChatCommand, sourceAtCut: ChatState, sourceLastRevision: number): ChatEvent[] {
  if (!sourceAtCut.exists) throw new CommandError('CHAT_NOT_FOUND', 'chat not found')
  if (!Number.isInteger(cmd.atRevision) || cmd.atRevision < 0 || cmd.atRevision > sourceLastRevision)
    throw new CommandError(
      'FORK_REVISION_OUT_OF_RANGE',
      `chat ${sourceAtCut.id} has ${sourceLastRevision + 1} events; revision ${cmd.atRevision} does not exist`,
      { lastRevision: sourceLastRevision },
    )
  const title = cmd.title?.trim() || `${sourceAtCut.title} (fork)`.slice(0, LIMITS.titleLength)
  if (title.length > LIMITS.titleLength) throw invalidInput(`title is ${title.length} characters; the limit is ${LIMITS.titleLength}`)
  return [
    {
      type: 'ChatForked',
      data: {
        chatId: cmd.chatId,
        sourceChatId: sourceAtCut.id,
        atRevision: cmd.atRevision,
        ownerId: cmd.ownerId,
        organizationId: cmd.organizationId,
        title,
        closedToolCallIds: Object.keys(sourceAtCut.openToolCalls),
        modelId: sourceAtCut.modelId,
        workspaceId: sourceAtCut.workspaceId,
        planMode: sourceAtCut.planMode,
      },
    },
  ]
}
