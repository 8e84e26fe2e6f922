import type { ChatState } from '../events/chat-state.ts'

/**
 * What the system prompt gains for a chat from outside the log — its workspace's AGENTS.md and
 * skills (src/workspaces/context.ts). Null for nothing. It answers quickly and never throws:
 * a source it cannot reach adds nothing.
 */
export type ChatInstructions = (chat: ChatState, signal: AbortSignal) => Promise<string | null>

export function withInstructions(systemPrompt: string, instructions: string | null): string {
  return instructions ? `${systemPrompt}\n\n${instructions}` : systemPrompt
}
