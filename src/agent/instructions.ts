import type { ChatState } from '../events/chat-state.ts'

/**
 * What the system prompt gains for a chat from outside the log — its workspace's AGENTS.md and
 * skills (src/workspaces/context.ts). Null for nothing. It answers quickly and never throws:
 * a source it cannot reach adds nothing.
 */
export type ChatInstructions = (chat: ChatState, signal: AbortSignal) => Promise<string | null>

/** The one file a chat in plan mode may write: its plan, relative to the workspace folder. */
export const planFilePath = (chatId: string) => `.cairn/plans/${chatId}.md`

/**
 * What the system prompt says about the chat's own situation, from its folded stream alone (so
 * a context rebuilt as of a revision says the same): a sub-agent's role, plan mode's rules.
 */
export function chatRoleInstructions(chat: ChatState): string | null {
  const notes: string[] = []
  if (chat.parentChatId !== null) {
    notes.push(
      `You are a sub-agent: another agent gave you the task in the first message and receives your last message as your answer, so end with a complete, self-contained report.${
        chat.agentType === 'explore' ? ' You explore only: read files and run commands that inspect, but do not change anything.' : ''
      }`,
    )
  } else if (chat.planMode) {
    notes.push(
      `Plan mode is on: explore with read_file and execute and ask the user with ask_user_question, but change nothing. The only file you may write is your plan, ${planFilePath(chat.id)}; when it is ready, call propose_plan with that path.`,
    )
  }
  return notes.length ? notes.join('\n\n') : null
}

export function withInstructions(systemPrompt: string, instructions: string | null): string {
  return instructions ? `${systemPrompt}\n\n${instructions}` : systemPrompt
}
