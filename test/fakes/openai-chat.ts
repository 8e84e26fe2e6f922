// OpenAI Chat Completions streaming: unnamed `data:` chunks, tool calls by index,
// a usage chunk with `choices: []` when asked, then `data: [DONE]`.
import type { ScriptedResponse } from './script.ts'
import { openAIError } from './openai-errors.ts'
import { splitText, type Frame, type Wire } from './server.ts'

function chatFrames(script: ScriptedResponse, body: Record<string, unknown>, n: number): Frame[] {
  const base = { id: `chatcmpl-fake${n}`, object: 'chat.completion.chunk', created: 1_700_000_000, model: body['model'] ?? 'gpt-fake', system_fingerprint: 'fp_fake' }
  const chunk = (delta: Record<string, unknown>, finish: string | null = null) =>
    `data: ${JSON.stringify({ ...base, choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }] })}\n\n`
  const frames: Frame[] = [chunk({ role: 'assistant', content: '', refusal: null })]
  // Reasoning as DeepSeek / vLLM stream it; OpenAI itself never sends it on this API.
  for (const piece of splitText(script.reasoning ?? '')) frames.push(chunk({ reasoning_content: piece }))
  for (const piece of splitText(script.text ?? '', script.textPieces)) frames.push(chunk({ content: piece }))
  for (const [index, call] of (script.toolCalls ?? []).entries()) {
    const id = call.id ?? `call_fake${n}_${index}`
    frames.push(chunk({ tool_calls: [{ index, id, type: 'function', function: { name: call.name, arguments: '' } }] }))
    for (const piece of splitText(JSON.stringify(call.arguments ?? {}), 2))
      frames.push(chunk({ tool_calls: [{ index, function: { arguments: piece } }] }))
  }
  frames.push(chunk({}, script.toolCalls?.length ? 'tool_calls' : 'stop'))
  const options = body['stream_options'] as { include_usage?: boolean } | undefined
  if (options?.include_usage) {
    const u = script.usage ?? {}
    const input = u.input ?? 10
    const output = u.output ?? 5
    const usage = {
      prompt_tokens: input,
      completion_tokens: output,
      total_tokens: input + output,
      prompt_tokens_details: { cached_tokens: u.cacheRead ?? 0, audio_tokens: 0 },
      completion_tokens_details: { reasoning_tokens: u.reasoning ?? 0, audio_tokens: 0, accepted_prediction_tokens: 0, rejected_prediction_tokens: 0 },
    }
    frames.push(`data: ${JSON.stringify({ ...base, choices: [], usage })}\n\n`)
  }
  frames.push('data: [DONE]\n\n')
  return frames
}

export const openAIChatWire: Wire = {
  kind: 'openai-chat',
  contentType: 'text/event-stream; charset=utf-8',
  responseHeaders: { 'x-request-id': 'req_fake' },
  baseUrl: (origin) => `${origin}/v1`,
  // Any prefix: /v1/chat/completions, Azure's /openai/deployments/<d>/chat/completions.
  handles: (method, path) => method === 'POST' && path.split('?')[0]!.endsWith('/chat/completions'),
  frames: chatFrames,
  malformed: () => 'data: {"id":"chatcmpl-fake","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"x\n\n',
  error: openAIError,
}
