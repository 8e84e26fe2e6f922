// A tool call an approval policy held: the rule that matched, when it expires, and Approve /
// Approve for this chat / Deny with a reason while the chat waits on it; then who decided.
import { createContext, useContext, useState } from 'react'
import { useMutation } from 'urql'
import type { ApprovalView } from './chat-fold.ts'
import { errorMessage } from './client.ts'
import { APPROVE_CALL, DENY_CALL } from './queries.ts'

export interface ApprovalScope {
  chatId: string
  /** The viewer may decide (the chat's owner, or an admin). */
  canAct: boolean
  meId: string
  /** Calls the chat waits on now (`chat.pendingApprovals`). */
  pending: ReadonlySet<string>
}
export const ApprovalContext = createContext<ApprovalScope | null>(null)

const who = (by: string | null, meId: string) => (by === null ? 'nobody' : by === meId ? 'you' : `user ${by.slice(0, 8)}`)

function expiryText(expiresAt: string): string {
  const at = new Date(expiresAt)
  const minutes = Math.round((at.getTime() - Date.now()) / 60_000)
  const time = at.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })
  return minutes > 0 ? `denied at ${time} (in ${minutes} min) unless approved` : `denied at ${time} unless approved`
}

function DecideForm({ scope, callId }: { scope: ApprovalScope; callId: string }) {
  const [approved, approve] = useMutation(APPROVE_CALL)
  const [denied, deny] = useMutation(DENY_CALL)
  const [denying, setDenying] = useState(false)
  const [reason, setReason] = useState('')
  const busy = approved.fetching || denied.fetching
  const error = approved.error ?? denied.error
  return (
    <div className="approval-actions">
      {denying ? (
        <form
          aria-label="deny the call"
          onSubmit={(e) => {
            e.preventDefault()
            void deny({ chatId: scope.chatId, callId, reason: reason.trim() || null })
          }}
        >
          <input aria-label="reason for denying" placeholder="why not (the agent reads it)" value={reason} onChange={(e) => setReason(e.target.value)} autoFocus />
          <button type="submit" className="danger" disabled={busy}>
            Deny
          </button>
          <button type="button" className="secondary" onClick={() => setDenying(false)}>
            Cancel
          </button>
        </form>
      ) : (
        <>
          <button type="button" disabled={busy} onClick={() => void approve({ chatId: scope.chatId, callId, forChat: false })}>
            Approve
          </button>
          <button type="button" className="secondary" disabled={busy} onClick={() => void approve({ chatId: scope.chatId, callId, forChat: true })} title="Calls this rule matches run without asking for the rest of the chat">
            Approve for this chat
          </button>
          <button type="button" className="secondary" disabled={busy} onClick={() => setDenying(true)}>
            Deny…
          </button>
        </>
      )}
      {error && (
        <p className="error" role="alert">
          {errorMessage(error)}
        </p>
      )}
    </div>
  )
}

export function ApprovalPanel({ callId, approval }: { callId: string; approval: ApprovalView }) {
  const scope = useContext(ApprovalContext)
  const meId = scope?.meId ?? ''
  const d = approval.decision
  const open = !d && !approval.dismissed && !!scope?.pending.has(callId)
  return (
    <div className={`approval ${d ? (d.approved ? 'approved' : 'denied') : approval.dismissed ? 'dismissed' : 'waiting'}`}>
      <div className="approval-rule">
        Needs approval: rule <code>{approval.rule.tool}</code>
        {approval.rule.commandPattern && (
          <>
            {' '}
            matching <code>{approval.rule.commandPattern}</code>
          </>
        )}
      </div>
      {d ? (
        <div className="approval-decision" role="status">
          {d.approved
            ? `Approved by ${who(d.by, meId)}${d.forChat ? ' for this chat' : ''}`
            : d.expired
              ? 'Denied: nobody approved it in time'
              : `Denied by ${who(d.by, meId)}${d.reason ? `: ${d.reason}` : ''}`}
        </div>
      ) : approval.dismissed ? (
        <div className="approval-decision muted">Not decided: the turn was stopped.</div>
      ) : (
        <div className="approval-expiry muted">{expiryText(approval.expiresAt)}</div>
      )}
      {open && scope!.canAct && <DecideForm scope={scope!} callId={callId} />}
    </div>
  )
}
