// A few routes, on the History API: /, /chats/:id, /chats/:id/timeline, /admin.
import { useEffect, useState } from 'react'

export type Route =
  | { name: 'chats' }
  | { name: 'chat'; chatId: string; tab: 'conversation' | 'timeline' }
  | { name: 'admin' }
  | { name: 'audit' }

export function parseRoute(path: string): Route {
  const chat = /^\/chats\/([^/]+)(\/timeline)?\/?$/.exec(path)
  if (chat) return { name: 'chat', chatId: decodeURIComponent(chat[1]!), tab: chat[2] ? 'timeline' : 'conversation' }
  if (path === '/admin') return { name: 'admin' }
  if (path === '/audit') return { name: 'audit' }
  return { name: 'chats' }
}

export function navigate(path: string) {
  if (location.pathname === path) return
  history.pushState(null, '', path)
  dispatchEvent(new PopStateEvent('popstate'))
}

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(location.pathname))
  useEffect(() => {
    const update = () => setRoute(parseRoute(location.pathname))
    addEventListener('popstate', update)
    return () => removeEventListener('popstate', update)
  }, [])
  return route
}

/** An <a> that navigates without a page load (and still opens in a new tab with a modifier). */
export function linkHandler(path: string) {
  return (e: { preventDefault(): void; metaKey: boolean; ctrlKey: boolean; shiftKey: boolean; button: number }) => {
    if (e.metaKey || e.ctrlKey || e.shiftKey || e.button !== 0) return
    e.preventDefault()
    navigate(path)
  }
}
