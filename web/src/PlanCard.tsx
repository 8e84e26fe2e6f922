// A plan-mode turn's end (`propose_plan`): the plan as Markdown, approved (plan mode off, then a
// message to implement it) or revised (the composer, for what to change).
import { useState } from 'react'
import { useMutation } from 'urql'
import type { PlanEntry } from './chat-fold.ts'
import { errorMessage } from './client.ts'
import { Markdown } from './Markdown.tsx'
import { SEND, SET_PLAN_MODE } from './queries.ts'

export const PLAN_APPROVED = 'Plan approved: implement it.'

/** The plan file as the workspace knows it: an absolute path under the daemon's workdir is cut to `.cairn/plans/…`. */
export const shownPlanPath = (path: string) => {
  const at = path.lastIndexOf('/.cairn/plans/')
  return at < 0 ? path : path.slice(at + 1)
}

export function PlanCard({ entry, chatId, canAct, onRevise }: { entry: PlanEntry; chatId: string; canAct: boolean; onRevise: () => void }) {
  const [, setPlanMode] = useMutation(SET_PLAN_MODE)
  const [, send] = useMutation(SEND)
  const [problem, setProblem] = useState<string | null>(null)
  const [approving, setApproving] = useState(false)
  async function approve() {
    setApproving(true)
    setProblem(null)
    const off = await setPlanMode({ chatId, planMode: false })
    const sent = off.error ? off : await send({ input: { chatId, text: PLAN_APPROVED } })
    if (sent.error) setProblem(errorMessage(sent.error))
    setApproving(false)
  }
  return (
    <section className="plan-card" aria-label="proposed plan" data-revision={entry.revision}>
      <header>
        <h2>Proposed plan</h2>
        <code className="plan-path" title={`${entry.path}\nsha256 ${entry.sha256}`}>
          {shownPlanPath(entry.path)}
        </code>
      </header>
      <Markdown text={entry.plan} className="plan-body" />
      {canAct && !entry.answered && (
        <div className="plan-actions">
          <button type="button" className="secondary" onClick={onRevise} title="Say what to change in the composer">
            Revise
          </button>
          <button type="button" onClick={() => void approve()} disabled={approving} title="Turn plan mode off and ask the agent to implement the plan">
            Approve
          </button>
        </div>
      )}
      {problem && (
        <p className="error" role="alert">
          {problem}
        </p>
      )}
    </section>
  )
}
