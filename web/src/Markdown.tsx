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

export const Markdown = memo(function Markdown({ text, className }: { text: string; className?: string }) {
  return <div className={`markdown ${className ?? ''}`} dangerouslySetInnerHTML={{ __html: renderMarkdown(text) }} />
})
