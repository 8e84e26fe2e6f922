// A tool call as a card: file writes and edits as diffs, execute as a terminal, the rest folded.
import { diffLines } from 'diff'
import { ApprovalPanel } from './ApprovalCard.tsx'
import { AttachmentImage } from './attachments.tsx'
import type { ToolCallView } from './chat-fold.ts'
import { SubAgentCard } from './SubAgents.tsx'

/** Shown as the question and plan cards instead, unless the call failed. */
const SHOWN_AS_CARDS = new Set(['ask_user_question', 'propose_plan'])
/** Whether the call's card would show nothing (its question or plan card shows it). */
export const shownElsewhere = (call: ToolCallView) => SHOWN_AS_CARDS.has(call.name) && !call.isError
const isPlanFile = (path: unknown) => typeof path === 'string' && /(^|\/)\.cairn\/plans\/[^/]+\.md$/.test(path)
const ON_A_CHILD = new Set(['wait_agent', 'message_agent', 'close_agent'])
/** The child chat id spawn_agent's result names. */
const spawnedChildId = (result: string | undefined) => /chat_id: (\S+)/.exec(result ?? '')?.[1] ?? null

function DiffView({ path, oldText, newText }: { path: string; oldText: string; newText: string }) {
  const parts = diffLines(oldText, newText)
  return (
    <div className="diff" role="group" aria-label={`diff of ${path}`}>
      <div className="diff-path">{path}</div>
      <pre>
        {parts.flatMap((part, i) =>
          part.value
            .replace(/\n$/, '')
            .split('\n')
            .map((line, j) => (
              <div key={`${i}-${j}`} className={part.added ? 'line added' : part.removed ? 'line removed' : 'line'}>
                <span className="sign" aria-hidden="true">{part.added ? '+' : part.removed ? '-' : ' '}</span>
                {line}
              </div>
            )),
        )}
      </pre>
    </div>
  )
}

function exitCodeOf(result: string | undefined): string | null {
  const head = /^process \S+ (exited with (code -?\d+|signal \w+)|timed out and was killed|is still running)/.exec(result ?? '')
  if (!head) return null
  return head[2] ? head[2].replace('code ', 'exit ') : head[1]!
}

function Status({ call }: { call: ToolCallView }) {
  if (call.result === undefined && call.approval && !call.approval.decision && !call.approval.dismissed) return <span className="badge waiting">waiting for approval</span>
  if (call.result === undefined) return <span className="badge running">running…</span>
  return call.isError ? <span className="badge error">error</span> : <span className="badge ok">done</span>
}

export function ToolCard({ call }: { call: ToolCallView }) {
  const args = (call.arguments ?? {}) as Record<string, any>
  if (shownElsewhere(call)) return null
  let body: React.ReactNode
  if ((call.name === 'write_file' || call.name === 'edit_files') && call.isError) {
    // Refused or failed: nothing was written, so no diff in the open.
    body = (
      <details>
        <summary>what it tried to write</summary>
        <pre className="raw">{JSON.stringify(call.arguments, null, 2)}</pre>
      </details>
    )
  } else if (call.name === 'spawn_agent') {
    const childId = call.isError ? null : spawnedChildId(call.result)
    body = (
      <div className="agent-call">
        {childId && <SubAgentCard childChatId={childId} />}
        <blockquote className="agent-prompt">{String(args.prompt ?? '')}</blockquote>
      </div>
    )
  } else if (ON_A_CHILD.has(call.name)) {
    body = (
      <div className="agent-call">
        <SubAgentCard childChatId={String(args.chat_id ?? '')} />
        {call.name === 'message_agent' && <blockquote className="agent-prompt">{String(args.message ?? '')}</blockquote>}
        {call.result !== undefined && !call.isError && <pre className="raw agent-result">{call.result}</pre>}
      </div>
    )
  } else if (call.name === 'list_agents') {
    body = call.result !== undefined && !call.isError && <pre className="raw agent-result">{call.result}</pre>
  } else if (call.name === 'edit_files' && Array.isArray(args.edits)) {
    body = args.edits.map((edit: any, i: number) => <DiffView key={i} path={String(edit.path)} oldText={String(edit.old_text ?? '')} newText={String(edit.new_text ?? '')} />)
  } else if (call.name === 'write_file' && isPlanFile(args.path) && !call.isError) {
    // The plan shows in full when proposed; its drafts fold.
    body = (
      <details>
        <summary>the plan file ({String(args.content ?? '').split('\n').length} lines)</summary>
        <DiffView path={String(args.path)} oldText="" newText={String(args.content ?? '')} />
      </details>
    )
  } else if (call.name === 'write_file') {
    body = <DiffView path={String(args.path)} oldText="" newText={String(args.content ?? '')} />
  } else if (call.name === 'execute') {
    const output = call.result?.replace(/^[^\n]*\n?/, '') ?? ''
    const exit = exitCodeOf(call.result)
    body = (
      <div className="terminal">
        <div className="command">$ {String(args.command ?? '')}</div>
        {output && <pre>{output}</pre>}
        {exit && <div className={`exit ${call.isError ? 'failed' : ''}`}>{exit}</div>}
      </div>
    )
  } else {
    body = (
      <details>
        <summary>arguments{call.result !== undefined ? ' and result' : ''}</summary>
        <pre className="raw">{JSON.stringify(call.arguments, null, 2)}</pre>
        {call.result !== undefined && <pre className="raw">{call.result}</pre>}
      </details>
    )
  }
  const showResult = call.result !== undefined && call.isError && call.name !== 'execute'
  return (
    <div
      className={`tool-card${call.approval ? ' held' : ''}`}
      data-tool={call.name}
      {...(call.approval ? { role: 'region', 'aria-label': `approval of ${call.name}` } : {})}
    >
      <div className="tool-head">
        <span className="tool-name">{call.name}</span>
        {typeof args.path === 'string' && <span className="tool-arg">{args.path}</span>}
        {call.name === 'spawn_agent' && <span className="tool-arg">{[args.type, args.title].filter(Boolean).join(' · ')}</span>}
        <Status call={call} />
      </div>
      {body}
      {call.approval && <ApprovalPanel callId={call.id} approval={call.approval} />}
      {showResult && <pre className="tool-error">{call.result}</pre>}
      {call.images?.map((img) => (
        <AttachmentImage key={img.attachmentId} attachmentId={img.attachmentId} mimeType={img.mimeType} name={typeof args.name === 'string' ? args.name : String(args.path ?? 'attachment')} />
      ))}
    </div>
  )
}
