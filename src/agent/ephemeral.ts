/**
 * What the runner publishes while a step streams. These never enter the log: the
 * committed step that follows is the durable record. The API fans them out to
 * `chatStream` subscribers on every server process.
 */
export type RunnerDelta =
  | { type: 'text_delta'; turnId: string; text: string }
  | { type: 'reasoning_delta'; turnId: string; text: string }
  | { type: 'tool_call_start'; turnId: string; callId: string; name: string }
  | { type: 'tool_call_delta'; turnId: string; callId: string; argumentsDelta: string }
  | { type: 'tool_result'; callId: string; isError: boolean }
  | { type: 'retry'; attempt: number; delayMs: number; errorKind: string }

export type EphemeralSink = (chatId: string, delta: RunnerDelta) => void
