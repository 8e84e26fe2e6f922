// Helpers shared by the provider tests: drain a stream, fold it, catch its error.
import { expect } from 'vitest'
import { ProviderError, type ModelRequest, type StreamEvent, type ToolDefinition, type Usage } from '../../src/providers/index.ts'

export async function collect(stream: AsyncIterable<StreamEvent>): Promise<StreamEvent[]> {
  const events: StreamEvent[] = []
  for await (const e of stream) events.push(e)
  return events
}

export interface Folded {
  text: string
  reasoning: string
  textSignatures: string[]
  reasoningSignatures: string[]
  calls: { id: string; name: string; arguments: unknown; signature?: string; deltas: string }[]
  usage: Usage[]
  finish: string[]
  textDeltas: number
}

export function fold(events: StreamEvent[]): Folded {
  const f: Folded = { text: '', reasoning: '', textSignatures: [], reasoningSignatures: [], calls: [], usage: [], finish: [], textDeltas: 0 }
  const deltas = new Map<string, string>()
  for (const e of events) {
    switch (e.type) {
      case 'text_delta':
        f.text += e.text
        f.textDeltas++
        break
      case 'reasoning_delta':
        f.reasoning += e.text
        break
      case 'text_signature':
        f.textSignatures.push(e.signature)
        break
      case 'reasoning_signature':
        f.reasoningSignatures.push(e.signature)
        break
      case 'tool_call_start':
        deltas.set(e.id, '')
        break
      case 'tool_call_delta':
        deltas.set(e.id, (deltas.get(e.id) ?? '') + e.argumentsDelta)
        break
      case 'tool_call_end':
        f.calls.push({ id: e.id, name: e.name, arguments: e.arguments, deltas: deltas.get(e.id) ?? '', ...(e.signature ? { signature: e.signature } : {}) })
        break
      case 'usage':
        f.usage.push(e.usage)
        break
      case 'finish':
        f.finish.push(e.reason)
        break
    }
  }
  // usage comes once, right before the single finish, which is last.
  expect(events.at(-1)?.type).toBe('finish')
  expect(events.at(-2)?.type).toBe('usage')
  expect(f.usage).toHaveLength(1)
  expect(f.finish).toHaveLength(1)
  return f
}

export async function failure(stream: AsyncIterable<StreamEvent>): Promise<ProviderError> {
  try {
    await collect(stream)
  } catch (err) {
    expect(err).toBeInstanceOf(ProviderError)
    return err as ProviderError
  }
  throw new Error('expected the stream to fail')
}

export const readFileTool: ToolDefinition = {
  name: 'read_file',
  description: 'Read a file from the workspace',
  inputSchema: { type: 'object', properties: { path: { type: 'string' } }, required: ['path'] },
}

export function request(model: string, overrides: Partial<ModelRequest> = {}): ModelRequest {
  return {
    model,
    system: 'You are a careful coding agent.',
    messages: [{ role: 'user', parts: [{ type: 'text', text: 'Hello' }] }],
    tools: [readFileTool],
    ...overrides,
  }
}

/** A 1x1 transparent PNG. */
export const PNG =
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=='
