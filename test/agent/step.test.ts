import { describe, expect, it } from 'vitest'
import { StepAccumulator } from '../../src/agent/step.ts'

describe('StepAccumulator', () => {
  it('keeps two signed thinking blocks as two parts, each with its own signature', () => {
    const step = new StepAccumulator('t')
    step.apply({ type: 'reasoning_delta', text: 'first ' })
    step.apply({ type: 'reasoning_delta', text: 'thought' })
    step.apply({ type: 'reasoning_signature', signature: 'sig-1' })
    step.apply({ type: 'reasoning_delta', text: 'second thought' })
    step.apply({ type: 'reasoning_signature', signature: 'sig-2' })
    step.apply({ type: 'text_delta', text: 'answer' })
    expect(step.result(false).parts).toEqual([
      { type: 'reasoning', text: 'first thought', signature: 'sig-1' },
      { type: 'reasoning', text: 'second thought', signature: 'sig-2' },
      { type: 'text', text: 'answer' },
    ])
  })

  it('publishes text and tool-argument deltas and keeps tool calls in order with text', () => {
    const step = new StepAccumulator('t')
    expect(step.apply({ type: 'text_delta', text: 'let me check' })).toEqual({ kind: 'TextDelta', turnId: 't', delta: 'let me check' })
    expect(step.apply({ type: 'tool_call_start', id: 'c1', name: 'read_file' })).toMatchObject({ kind: 'ToolCallArgumentsDelta', callId: 'c1', name: 'read_file' })
    expect(step.apply({ type: 'tool_call_delta', id: 'c1', argumentsDelta: '{"path":' })).toMatchObject({ delta: '{"path":' })
    step.apply({ type: 'tool_call_end', id: 'c1', name: 'read_file', arguments: { path: 'a' }, signature: 'g' })
    step.apply({ type: 'usage', usage: { inputTokens: 5, outputTokens: 2, cacheReadTokens: 0, cacheWriteTokens: 0, reasoningTokens: 0 } })
    step.apply({ type: 'finish', reason: 'tool_calls' })
    const result = step.result(false)
    expect(result.parts.map((p) => p.type)).toEqual(['text', 'tool_call'])
    expect(result.toolCalls).toEqual([{ id: 'c1', name: 'read_file', arguments: { path: 'a' }, signature: 'g' }])
    expect(result.finishReason).toBe('tool_calls')
    expect(result.usage.inputTokens).toBe(5)
  })

  it('an interrupted step keeps the streamed text and drops tool calls that never ran', () => {
    const step = new StepAccumulator('t')
    step.apply({ type: 'text_delta', text: 'partial' })
    step.apply({ type: 'tool_call_end', id: 'c1', name: 'x', arguments: {} })
    expect(step.result(true)).toMatchObject({ parts: [{ type: 'text', text: 'partial' }], toolCalls: [], interrupted: true, finishReason: 'interrupted' })
  })
})
