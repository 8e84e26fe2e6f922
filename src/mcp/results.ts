// An MCP CallToolResult as the runner's ToolResult: text joined, images passed on, resources described.
import type { ToolResult } from '../agent/tools/registry.ts'

type Block = { type: string; [k: string]: unknown }

const MAX_INLINE_RESOURCE = 100_000

function describe(block: Block, images: NonNullable<ToolResult['images']>): string | null {
  switch (block.type) {
    case 'text':
      return String(block.text ?? '')
    case 'image':
      images.push({ mimeType: String(block.mimeType ?? 'image/png'), data: String(block.data ?? '') })
      return null
    case 'audio':
      return `[audio (${String(block.mimeType ?? 'unknown type')}), not shown]`
    case 'resource': {
      const r = (block.resource ?? {}) as { uri?: string; mimeType?: string; text?: string; blob?: string }
      const head = `[resource ${r.uri ?? '(no uri)'}${r.mimeType ? ` (${r.mimeType})` : ''}]`
      if (typeof r.text === 'string') return `${head}\n${r.text.length > MAX_INLINE_RESOURCE ? `${r.text.slice(0, MAX_INLINE_RESOURCE)}\n[… truncated]` : r.text}`
      if (typeof r.blob === 'string') {
        if (r.mimeType?.startsWith('image/')) images.push({ mimeType: r.mimeType, data: r.blob })
        return `${head} binary, ${Math.floor((r.blob.length * 3) / 4)} bytes`
      }
      return head
    }
    case 'resource_link': {
      const parts = [`[resource link ${String(block.uri ?? '')}`]
      if (block.name) parts.push(` "${String(block.name)}"`)
      if (block.mimeType) parts.push(` (${String(block.mimeType)})`)
      parts.push(']')
      if (block.description) parts.push(` ${String(block.description)}`)
      return parts.join('')
    }
    default:
      return `[${block.type} content, not shown]`
  }
}

export function toolResultFromMcp(result: { content?: unknown; structuredContent?: unknown; isError?: unknown; toolResult?: unknown }): ToolResult {
  const images: NonNullable<ToolResult['images']> = []
  const blocks = Array.isArray(result.content) ? (result.content as Block[]) : []
  const texts = blocks.map((b) => describe(b, images)).filter((t): t is string => t !== null)
  // Old servers answer `{toolResult}`; structured-only answers are shown as JSON.
  if (texts.length === 0 && result.structuredContent !== undefined) texts.push(JSON.stringify(result.structuredContent, null, 2))
  if (texts.length === 0 && result.toolResult !== undefined) texts.push(JSON.stringify(result.toolResult, null, 2))
  const content = texts.join('\n') || (images.length ? `[${images.length} image${images.length > 1 ? 's' : ''}]` : '(no content)')
  return { content, isError: result.isError === true, ...(images.length ? { images } : {}) }
}
