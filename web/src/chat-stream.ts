// Follows a chat's chatStream subscription and folds its items once per animation frame, so a
// fast stream of deltas costs one render a frame, not one per delta.
import { useEffect, useState } from 'react'
import { useClient } from 'urql'
import { emptyChatView, foldChatItems, type ChatView, type StreamItem } from './chat-fold.ts'
import { CHAT_STREAM } from './queries.ts'

export function useChatStream(chatId: string): { view: ChatView; error: string | null } {
  const client = useClient()
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
    const { unsubscribe } = client.subscription<{ chatStream: StreamItem }>(CHAT_STREAM, { chatId }).subscribe((result) => {
      if (result.error) {
        setError(result.error.graphQLErrors[0]?.message ?? result.error.message)
        return
      }
      if (!result.data) return
      pending.push(result.data.chatStream)
      frame ||= requestAnimationFrame(flush)
    })
    return () => {
      unsubscribe()
      if (frame) cancelAnimationFrame(frame)
    }
  }, [client, chatId])
  return { view, error }
}
