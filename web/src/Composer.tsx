// The composer (text, images, send or queue, stop) and the queue of messages sent while busy.
import { useState } from 'react'
import { useMutation } from 'urql'
import { IMAGE_TYPES, refusalOf, uploadImage, type UploadedImage } from './attachments.tsx'
import { INTERRUPT, PROMOTE_QUEUED, REMOVE_QUEUED, SEND, type ChatSummary } from './queries.ts'
import { errorMessage } from './client.ts'

export const BUSY = new Set(['PENDING', 'RUNNING', 'INTERRUPTING'])

export function Queue({ chat, canChange }: { chat: ChatSummary; canChange: boolean }) {
  const [, remove] = useMutation(REMOVE_QUEUED)
  const [, promote] = useMutation(PROMOTE_QUEUED)
  if (chat.queue.length === 0) return null
  return (
    <section className="queue" aria-label="queued messages">
      <h2>Queued ({chat.queue.length})</h2>
      <ol>
        {chat.queue.map((q) => (
          <li key={q.queueId}>
            <span className="queued-text">{q.parts.filter((p) => p.type === 'text').map((p) => p.text).join(' ')}</span>
            {canChange && (
              <span className="actions">
                <button type="button" onClick={() => void promote({ chatId: chat.id, queueId: q.queueId })} title="Interrupt the turn and send this next">
                  Send now
                </button>
                <button type="button" onClick={() => void remove({ chatId: chat.id, queueId: q.queueId })}>
                  Remove
                </button>
              </span>
            )}
          </li>
        ))}
      </ol>
    </section>
  )
}

/** What the message box says the next message will do. */
function placeholderFor(chat: ChatSummary, busy: boolean) {
  if (chat.status === 'REQUIRES_ACTION' && chat.pendingApprovals.length > 0 && !chat.pendingQuestionId) return 'A tool call waits for approval; a message now waits in the queue'
  if (chat.status === 'REQUIRES_ACTION') return 'Answer the question above in your own words: your message answers it'
  if (busy) return 'The agent is working; a message now waits in the queue'
  return chat.planMode ? 'Message (plan mode: the agent plans and proposes, it changes nothing)' : 'Message'
}

export function Composer({ chat, onSent, inputRef }: { chat: ChatSummary; onSent: () => void; inputRef?: React.Ref<HTMLTextAreaElement> }) {
  const [text, setText] = useState('')
  const [images, setImages] = useState<UploadedImage[]>([])
  const [uploading, setUploading] = useState(0)
  const [attachError, setAttachError] = useState<string | null>(null)
  const [result, send] = useMutation(SEND)
  const [, interrupt] = useMutation(INTERRUPT)
  // A call held for approval: the turn is not over, so a message waits in the queue.
  const approving = chat.status === 'REQUIRES_ACTION' && chat.pendingApprovals.length > 0 && !chat.pendingQuestionId
  const busy = BUSY.has(chat.status) || approving
  const answering = chat.status === 'REQUIRES_ACTION' && !approving
  async function attach(files: Iterable<File>) {
    setAttachError(null)
    for (const file of files) {
      const refusal = refusalOf(file)
      if (refusal) {
        setAttachError(refusal)
        continue
      }
      setUploading((n) => n + 1)
      try {
        const image = await uploadImage(file)
        setImages((list) => [...list, image])
      } catch (err) {
        setAttachError(`${file.name}: ${(err as Error).message}`)
      } finally {
        setUploading((n) => n - 1)
      }
    }
  }
  async function submit() {
    const message = text.trim()
    if (!message || uploading) return
    const attached = images
    setText('')
    setImages([])
    performance.mark('cairn:send')
    const res = await send({ input: { chatId: chat.id, text: message, ...(attached.length ? { attachmentIds: attached.map((i) => i.id) } : {}) } })
    if (res.error) {
      setText(message)
      setImages(attached)
    } else for (const image of attached) URL.revokeObjectURL(image.previewUrl)
    onSent()
  }
  return (
    <form
      className="composer"
      aria-label="composer"
      onSubmit={(e) => {
        e.preventDefault()
        void submit()
      }}
      onDragOver={(e) => e.preventDefault()}
      onDrop={(e) => {
        e.preventDefault()
        void attach(e.dataTransfer.files)
      }}
    >
      {images.length > 0 && (
        <div className="attached" aria-label="attached images">
          {images.map((image) => (
            <figure key={image.id}>
              <img src={image.previewUrl} alt={image.name} />
              <button type="button" aria-label={`remove ${image.name}`} onClick={() => setImages((list) => list.filter((i) => i.id !== image.id))}>
                ×
              </button>
            </figure>
          ))}
        </div>
      )}
      {approving && (
        <p className="composer-note" role="note">
          {chat.pendingApprovals.length > 1 ? `${chat.pendingApprovals.length} tool calls wait` : 'A tool call waits'} for your approval above; a message sent now waits in the queue.
        </p>
      )}
      {answering && (
        <p className="composer-note" role="note">
          The agent waits for an answer to its question: a message sent now answers it.
        </p>
      )}
      <textarea
        ref={inputRef}
        aria-label="message"
        placeholder={placeholderFor(chat, busy)}
        value={text}
        rows={2}
        onChange={(e) => setText(e.target.value)}
        onPaste={(e) => {
          if (e.clipboardData.files.length) {
            e.preventDefault()
            void attach(e.clipboardData.files)
          }
        }}
        onKeyDown={(e) => {
          if (e.key === 'Enter' && !e.shiftKey) {
            e.preventDefault()
            void submit()
          } else if (e.key === 'Escape' && busy) void interrupt({ chatId: chat.id })
        }}
      />
      <div className="composer-actions">
        <label className="attach">
          Attach image
          <input
            type="file"
            aria-label="attach image"
            accept={IMAGE_TYPES.join(',')}
            multiple
            onChange={(e) => {
              void attach(e.target.files ?? [])
              e.target.value = ''
            }}
          />
        </label>
        {uploading > 0 && <span className="muted">uploading…</span>}
        {busy && (
          <button type="button" className="stop" title="Stop the turn (Esc)" onClick={() => void interrupt({ chatId: chat.id })} disabled={chat.status === 'INTERRUPTING'}>
            Stop
          </button>
        )}
        <button type="submit" disabled={!text.trim() || uploading > 0}>
          {busy ? 'Queue' : answering ? 'Send as answer' : 'Send'}
        </button>
      </div>
      {attachError && <p className="error" role="alert">{attachError}</p>}
      {result.error && <p className="error">{errorMessage(result.error)}</p>}
    </form>
  )
}

