// Follows a chat's chatStream subscription and folds its items once per animation frame, so a
// fast stream of deltas costs one render a frame, not one per delta.
//
// It subscribes through the graphql-ws client itself, not urql: urql shares one operation among
// identical subscriptions, and a view that joins a shared one misses the replay from revision 0.
import { createContext, useCallback, useContext, useEffect, useState } from 'react'
import { useClient } from 'urql'
import type { Client as WsClient } from 'graphql-ws'
import { emptyChatView, foldChatItems, prependEvents, type ChatView, type StoredChatEvent, type StreamItem } from './chat-fold.ts'
import { CHAT_EVENTS, CHAT_STREAM } from './queries.ts'
import { errorMessage } from './client.ts'

/** Stored events a chat view opens with, the newest; older ones page in on demand. */
export const HISTORY_WINDOW = 400
const HISTORY_PAGE = 200

export const WsContext = createContext<WsClient | null>(null)

/** Follows the chat from `fromRevision` (null: not known yet, wait). */
export function useChatStream(chatId: string, fromRevision: number | null): { view: ChatView; error: string | null; loadEarlier: (() => Promise<void>) | null } {
  const ws = useContext(WsContext)!
  const client = useClient()
  const [view, setView] = useState<ChatView>(emptyChatView)
  const [error, setError] = useState<string | null>(null)
  useEffect(() => {
    if (fromRevision === null) return
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
      { query: CHAT_STREAM, variables: { chatId, from: fromRevision } },
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
  }, [ws, chatId, fromRevision])
  const first = view.events[0]?.revision ?? fromRevision ?? 0
  const loadEarlier = useCallback(async () => {
    const from = Math.max(0, first - HISTORY_PAGE)
    const result = await client.query<{ chatEvents: StoredChatEvent[] }>(CHAT_EVENTS, { chatId, from, limit: first - from }).toPromise()
    if (result.data) setView((v) => prependEvents(v, result.data!.chatEvents))
    else if (result.error) setError(errorMessage(result.error))
  }, [client, chatId, first])
  return { view, error, loadEarlier: first > 0 ? loadEarlier : null }
}
