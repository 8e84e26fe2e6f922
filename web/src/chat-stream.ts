// Follows a chat's chatStream subscription and folds its items once per animation frame, so a
// fast stream of deltas costs one render a frame, not one per delta.
//
// It subscribes through the graphql-ws client itself, not urql: urql shares one operation among
// identical subscriptions, and a view that joins a shared one misses the replay from revision 0.
import { createContext, useContext, useEffect, useState } from 'react'
import type { Client as WsClient } from 'graphql-ws'
import { emptyChatView, foldChatItems, type ChatView, type StreamItem } from './chat-fold.ts'
import { CHAT_STREAM } from './queries.ts'

export const WsContext = createContext<WsClient | null>(null)

export function useChatStream(chatId: string): { view: ChatView; error: string | null } {
  const ws = useContext(WsContext)!
  const [view, setView] = useState<ChatView>(emptyChatView)
  const [error, setError] = useState<string | null>(null)
  useEffect(() => {
    setView(emptyChatView())
    setError(null)
    let pending: StreamItem[] = []
    let frame = 0
    const flush = () => {
      frame = 0
      const items = pending
      pending = []
      setView((v) => foldChatItems(v, items))
    }
    const unsubscribe = ws.subscribe<{ chatStream: StreamItem }>(
      { query: CHAT_STREAM, variables: { chatId } },
      {
        next: (result) => {
          if (result.errors?.length) {
            setError(result.errors[0]!.message)
            return
          }
          if (!result.data) return
          pending.push(result.data.chatStream)
          frame ||= requestAnimationFrame(flush)
        },
        error: (err) => setError(Array.isArray(err) ? String(err[0]?.message) : err instanceof Error ? err.message : 'the live connection closed'),
        complete: () => {},
      },
    )
    return () => {
      unsubscribe()
      if (frame) cancelAnimationFrame(frame)
    }
  }, [ws, chatId])
  return { view, error }
}
