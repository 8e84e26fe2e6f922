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
  const built = await startContext(events, contextStart(events), load)
  await extendContext(built, events, load)
  return built.messages
}

/** Messages built from a prefix of a chat's events, and what extending them needs. */
interface BuiltContext {
  messages: ModelMessage[]
  /** Open calls after the events folded so far. */
  open: OpenToolCalls
  /** How many of the events are folded in. */
  done: number
  start: { startIndex: number; summary: string | null }
  /** Whether the summary is followed by the latest user message before the start (which a later user message would replace). */
  repeatsRequest: boolean
}

async function startContext(events: readonly StoredEvent[], start: BuiltContext['start'], load: AttachmentLoader): Promise<BuiltContext> {
  const { startIndex, summary } = start
  const built: BuiltContext = { messages: [], open: {}, done: startIndex, start, repeatsRequest: false }
  if (summary !== null) {
    pushUser(built.messages, [{ type: 'text', text: `Summary of the conversation so far:\n\n${summary}` }])
    // A compaction in the middle of a turn covers the message that started it; the model
    // still needs that request in the user's own words.
    const latest = latestUserMessage(events)
    if (latest && latest.index < startIndex) {
      pushUser(built.messages, await userParts(latest.parts, load))
      built.repeatsRequest = true
    }
  }
  // Open calls are tracked from the start, not from the summary: a fork's cut may close a call asked before it.
  for (const raw of events.slice(0, startIndex)) built.open = openToolCallsAfter(built.open, raw as ChatStored)
  return built
}

/** Folds `events` from `built.done` to their end into the messages. */
async function extendContext(built: BuiltContext, events: readonly StoredEvent[], load: AttachmentLoader): Promise<void> {
  const { messages } = built
  for (; built.done < events.length; built.done++) {
    const e = events[built.done] as ChatStored
    const openBefore = built.open
    built.open = openToolCallsAfter(openBefore, e)
    switch (e.type) {
      case 'UserMessagePosted':
        pushUser(messages, await userParts(e.data.parts, load))
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
        pushToolResults(messages, [
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
          pushToolResults(messages, closed.map((callId) => ({ callId, name: openBefore[callId] ?? 'unknown', content: NOT_EXECUTED_AFTER_FORK, isError: true })))
        break
      }
      default:
        break
    }
  }
}

function pushUser(messages: ModelMessage[], parts: UserPart[]): void {
  const last = messages[messages.length - 1]
  if (last?.role === 'user') last.parts.push(...parts)
  else messages.push({ role: 'user', parts })
}

function pushToolResults(messages: ModelMessage[], results: ToolResultPart[]): void {
  const last = messages[messages.length - 1]
  if (last?.role === 'tool') last.results.push(...results)
  else messages.push({ role: 'tool', results })
}

/**
 * `buildModelContext` for one runner's chat, whose events only grow while it holds the chat: the
 * messages built for the last step are kept and extended with the events since, so a step costs
 * what is new, not the whole history again. It starts over when the events are another array (the
 * view was re-read), a compaction moved the start, or a user message follows a summary that
 * repeated the request before it. Each answer is the caller's own (the kept messages go on changing).
 */
export class ModelContextCache {
  #events: readonly StoredEvent[] | null = null
  #built: BuiltContext | null = null

  async build(events: readonly StoredEvent[], load: AttachmentLoader): Promise<ModelMessage[]> {
    const start = contextStart(events)
    let built = this.#built
    const extends_ =
      built !== null &&
      this.#events === events &&
      events.length >= built.done &&
      built.start.startIndex === start.startIndex &&
      built.start.summary === start.summary &&
      !(built.repeatsRequest && events.slice(built.done).some((e) => e.type === 'UserMessagePosted'))
    if (!extends_) built = await startContext(events, start, load)
    await extendContext(built!, events, load)
    this.#events = events
    this.#built = built
    // The last message is the one a later extension adds parts to: the answer gets its own copy.
    const messages = built!.messages.slice()
    const last = messages[messages.length - 1]
    if (last?.role === 'user') messages[messages.length - 1] = { ...last, parts: [...last.parts] }
    else if (last?.role === 'tool') messages[messages.length - 1] = { ...last, results: [...last.results] }
    return messages
  }
}
