// Assistant text as Markdown: marked parses, DOMPurify keeps only safe HTML, highlight.js
// colours code blocks (the common languages only, bundled).
import DOMPurify from 'dompurify'
import hljs from 'highlight.js/lib/core'
import bash from 'highlight.js/lib/languages/bash'
import diff from 'highlight.js/lib/languages/diff'
import javascript from 'highlight.js/lib/languages/javascript'
import json from 'highlight.js/lib/languages/json'
import python from 'highlight.js/lib/languages/python'
import typescript from 'highlight.js/lib/languages/typescript'
import { Marked } from 'marked'
import { memo } from 'react'

for (const [name, lang] of Object.entries({ bash, diff, javascript, json, python, typescript })) hljs.registerLanguage(name, lang)
hljs.registerAliases(['sh', 'shell'], { languageName: 'bash' })
hljs.registerAliases(['ts', 'tsx'], { languageName: 'typescript' })
hljs.registerAliases(['js', 'jsx'], { languageName: 'javascript' })

const marked = new Marked({
  gfm: true,
  breaks: false,
  renderer: {
    code({ text, lang }) {
      const language = lang && hljs.getLanguage(lang) ? lang : null
      const html = language ? hljs.highlight(text, { language }).value : escapeHtml(text)
      return `<pre class="code"><code class="hljs${language ? ` language-${language}` : ''}">${html}</code></pre>`
    },
  },
})

function escapeHtml(text: string) {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!)
}

export const renderMarkdown = (text: string) => DOMPurify.sanitize(marked.parse(text, { async: false }) as string)

/**
 * Streaming text cut into blocks where a blank line ends one outside a code fence. A finished
 * block keeps its string, so its memoized Markdown is parsed once; only the last one grows.
 */
export function streamingBlocks(text: string): string[] {
  const blocks: string[] = []
  let start = 0
  let fenced = false
  let lineStart = 0
  while (lineStart <= text.length) {
    const end = text.indexOf('\n', lineStart)
    const line = text.slice(lineStart, end < 0 ? text.length : end)
    if (line.startsWith('```')) fenced = !fenced
    else if (!fenced && line === '' && lineStart > start) {
      blocks.push(text.slice(start, lineStart - 1))
      start = lineStart + 1
    }
    if (end < 0) break
    lineStart = end + 1
  }
  if (start < text.length) blocks.push(text.slice(start))
  return blocks.filter((b) => b.trim() !== '')
}

/** Markdown of text that is still streaming: only the unfinished last block is parsed each frame. */
export function StreamingMarkdown({ text }: { text: string }) {
  return (
    <div className="markdown streaming">
      {streamingBlocks(text).map((block, i) => (
        <Markdown key={i} text={block} />
      ))}
    </div>
  )
}

export const Markdown = memo(function Markdown({ text, className }: { text: string; className?: string }) {
  return <div className={`markdown ${className ?? ''}`} dangerouslySetInnerHTML={{ __html: renderMarkdown(text) }} />
})
