import type { StoredEvent } from '../eventstore/types.ts'
import type { ChatEvent, MessagePart } from '../events/chat.ts'
import { openToolCallsAfter, toolCallsClosedByFork, type OpenToolCalls } from '../events/open-tool-calls.ts'
import type { AssistantPart, ModelMessage, ToolResultPart, UserPart } from '../providers/types.ts'

/** Loads an attachment's bytes for the model (images only). */
export type AttachmentLoader = (attachmentId: string) => Promise<{ mimeType: string; data: string } | null>

export const NOT_EXECUTED_AFTER_FORK =
  'Not executed: the chat was forked at a point where this call had not finished. Run it again if it is still needed.'

type ChatStored = StoredEvent & ChatEvent

/** Index of the first event the model should see: just after the newest summary's cover. */
export function contextStart(events: readonly StoredEvent[]): { startIndex: number; summary: string | null } {
  for (let i = events.length - 1; i >= 0; i--) {
    const e = events[i] as ChatStored
    if (e.type === 'ContextCompacted') {
      const through = BigInt(e.data.throughRevision)
      const startIndex = events.findIndex((x) => x.revision > through)
      return { startIndex: startIndex === -1 ? events.length : startIndex, summary: e.data.summary }
    }
  }
  return { startIndex: 0, summary: null }
}

function latestUserMessage(events: readonly StoredEvent[]): { index: number; parts: MessagePart[] } | null {
  for (let i = events.length - 1; i >= 0; i--) {
    const e = events[i] as ChatStored
    if (e.type === 'UserMessagePosted') return { index: i, parts: e.data.parts }
  }
  return null
}

async function userParts(parts: MessagePart[], load: AttachmentLoader): Promise<UserPart[]> {
  const out: UserPart[] = []
  for (const part of parts) {
    if (part.type === 'text') out.push({ type: 'text', text: part.text })
    else {
      const bytes = await load(part.attachmentId)
      if (bytes) out.push({ type: 'image', mimeType: bytes.mimeType, data: bytes.data })
      else out.push({ type: 'text', text: `[attachment ${part.name} is no longer available]` })
    }
  }
  return out
}

/**
 * The model's view of a chat: the newest summary, then every message after what it
 * covers. Users still see everything; only the model's context is cut.
 */
export async function buildModelContext(events: readonly StoredEvent[], load: AttachmentLoader): Promise<ModelMessage[]> {
  const { startIndex, summary } = contextStart(events)
  const messages: ModelMessage[] = []
  const pushUser = (parts: UserPart[]) => {
    const last = messages[messages.length - 1]
    if (last?.role === 'user') last.parts.push(...parts)
    else messages.push({ role: 'user', parts })
  }
  const pushToolResults = (results: ToolResultPart[]) => {
    const last = messages[messages.length - 1]
    if (last?.role === 'tool') last.results.push(...results)
    else messages.push({ role: 'tool', results })
  }
  if (summary !== null) {
    pushUser([{ type: 'text', text: `Summary of the conversation so far:\n\n${summary}` }])
    // A compaction in the middle of a turn covers the message that started it; the model
    // still needs that request in the user's own words.
    const latest = latestUserMessage(events)
    if (latest && latest.index < startIndex) pushUser(await userParts(latest.parts, load))
  }

  // Open calls are tracked from the start, not from the summary: a fork's cut may close a call asked before it.
  let open: OpenToolCalls = {}
  for (const raw of events.slice(0, startIndex)) open = openToolCallsAfter(open, raw as ChatStored)
  for (const raw of events.slice(startIndex)) {
    const e = raw as ChatStored
    const openBefore = open
    open = openToolCallsAfter(open, e)
    switch (e.type) {
      case 'UserMessagePosted':
        pushUser(await userParts(e.data.parts, load))
        break
      case 'AssistantStepCompleted': {
        const parts: AssistantPart[] = e.data.parts.filter((p) => p.type !== 'text' || p.text.length > 0)
        if (parts.length) messages.push({ role: 'assistant', parts })
        break
      }
      case 'ToolCallCompleted': {
        const images: { mimeType: string; data: string }[] = []
        for (const image of e.data.images ?? []) {
          const bytes = await load(image.attachmentId)
          if (bytes) images.push(bytes)
        }
        pushToolResults([
          {
            callId: e.data.callId,
            name: e.data.name,
            content: e.data.result,
            isError: e.data.isError,
            ...(images.length ? { images } : {}),
          },
        ])
        break
      }
      case 'ChatForked': {
        const closed = toolCallsClosedByFork(e, openBefore)
        if (closed.length)
          pushToolResults(closed.map((callId) => ({ callId, name: openBefore[callId] ?? 'unknown', content: NOT_EXECUTED_AFTER_FORK, isError: true })))
        break
      }
      default:
        break
    }
  }
  return messages
}
