// OpenAI Responses streaming: named events, each with a sequence_number, output
// items indexed consistently from added to done, ending in response.completed.
import type { ScriptedResponse } from './script.ts'
import { openAIError } from './openai-errors.ts'
import { splitText, sse, type Frame, type Wire } from './server.ts'

type Item = Record<string, unknown>

function responsesFrames(script: ScriptedResponse, body: Record<string, unknown>, n: number): Frame[] {
  let seq = 0
  const frames: Frame[] = []
  const emit = (type: string, data: Record<string, unknown>) => frames.push(sse({ type, ...data, sequence_number: seq++ }, type))
  const response = (status: string, output: Item[], usage: unknown) => ({
    id: `resp_fake${n}`,
    object: 'response',
    created_at: 1_700_000_000,
    status,
    error: null,
    incomplete_details: null,
    instructions: body['instructions'] ?? null,
    max_output_tokens: body['max_output_tokens'] ?? null,
    model: body['model'] ?? 'gpt-fake',
    output,
    parallel_tool_calls: true,
    previous_response_id: null,
    reasoning: { effort: null, summary: null },
    store: body['store'] ?? false,
    temperature: 1,
    text: { format: { type: 'text' } },
    tool_choice: 'auto',
    tools: body['tools'] ?? [],
    top_p: 1,
    truncation: 'disabled',
    usage,
    metadata: {},
  })
  const include = (body['include'] as string[] | undefined) ?? []
  const output: Item[] = []
  emit('response.created', { response: response('in_progress', [], null) })
  emit('response.in_progress', { response: response('in_progress', [], null) })

  if (script.reasoning) {
    const output_index = output.length
    const id = `rs_fake${n}`
    emit('response.output_item.added', { output_index, item: { id, type: 'reasoning', summary: [] } })
    emit('response.reasoning_summary_part.added', { item_id: id, output_index, summary_index: 0, part: { type: 'summary_text', text: '' } })
    for (const delta of splitText(script.reasoning))
      emit('response.reasoning_summary_text.delta', { item_id: id, output_index, summary_index: 0, delta })
    emit('response.reasoning_summary_text.done', { item_id: id, output_index, summary_index: 0, text: script.reasoning })
    emit('response.reasoning_summary_part.done', {
      item_id: id,
      output_index,
      summary_index: 0,
      part: { type: 'summary_text', text: script.reasoning },
    })
    const item: Item = {
      id,
      type: 'reasoning',
      summary: [{ type: 'summary_text', text: script.reasoning }],
      ...(include.includes('reasoning.encrypted_content') ? { encrypted_content: `enc_fake${n}` } : {}),
    }
    emit('response.output_item.done', { output_index, item })
    output.push(item)
  }

  if (script.text || !script.toolCalls?.length) {
    const output_index = output.length
    const id = `msg_fake${n}`
    const text = script.text ?? ''
    emit('response.output_item.added', { output_index, item: { id, type: 'message', status: 'in_progress', role: 'assistant', content: [] } })
    emit('response.content_part.added', {
      item_id: id,
      output_index,
      content_index: 0,
      part: { type: 'output_text', annotations: [], logprobs: [], text: '' },
    })
    for (const delta of splitText(text, script.textPieces))
      emit('response.output_text.delta', { item_id: id, output_index, content_index: 0, delta, logprobs: [] })
    emit('response.output_text.done', { item_id: id, output_index, content_index: 0, text, logprobs: [] })
    const part = { type: 'output_text', annotations: [], logprobs: [], text }
    emit('response.content_part.done', { item_id: id, output_index, content_index: 0, part })
    const item = { id, type: 'message', status: 'completed', role: 'assistant', content: [part] }
    emit('response.output_item.done', { output_index, item })
    output.push(item)
  }

  for (const [i, call] of (script.toolCalls ?? []).entries()) {
    const output_index = output.length
    const id = `fc_fake${n}_${i}`
    const call_id = call.id ?? `call_fake${n}_${i}`
    const args = JSON.stringify(call.arguments ?? {})
    emit('response.output_item.added', {
      output_index,
      item: { id, type: 'function_call', status: 'in_progress', arguments: '', call_id, name: call.name },
    })
    for (const delta of splitText(args, 2)) emit('response.function_call_arguments.delta', { item_id: id, output_index, delta })
    emit('response.function_call_arguments.done', { item_id: id, output_index, name: call.name, arguments: args })
    const item = { id, type: 'function_call', status: 'completed', arguments: args, call_id, name: call.name }
    emit('response.output_item.done', { output_index, item })
    output.push(item)
  }

  const u = script.usage ?? {}
  const input = u.input ?? 10
  const outputTokens = u.output ?? 5
  emit('response.completed', {
    response: response('completed', output, {
      input_tokens: input,
      input_tokens_details: { cached_tokens: u.cacheRead ?? 0 },
      output_tokens: outputTokens,
      output_tokens_details: { reasoning_tokens: u.reasoning ?? 0 },
      total_tokens: input + outputTokens,
    }),
  })
  return frames
}

export const openAIResponsesWire: Wire = {
  kind: 'openai-responses',
  contentType: 'text/event-stream; charset=utf-8',
  responseHeaders: { 'x-request-id': 'req_fake' },
  baseUrl: (origin) => `${origin}/v1`,
  handles: (method, path) => method === 'POST' && path.split('?')[0]!.endsWith('/responses'),
  frames: responsesFrames,
  malformed: () => 'event: response.output_text.delta\ndata: {"type":"response.output_text.delta","delta":\n\n',
  error: openAIError,
}
