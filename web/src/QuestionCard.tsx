// The model's `ask_user_question`: each question with its options and an "Other" of the user's
// own words, answered with answerQuestion; once answered, the answers it got.
import { useState } from 'react'
import { useMutation } from 'urql'
import type { QuestionEntry } from './chat-fold.ts'
import { errorMessage } from './client.ts'
import { ANSWER, INTERRUPT } from './queries.ts'

const OTHER = '\u0000other'

function AnswerForm({ entry, chatId }: { entry: QuestionEntry; chatId: string }) {
  // Per question: an option's label, or OTHER with the words in `other`.
  const [chosen, setChosen] = useState<string[]>(() => entry.questions.map(() => ''))
  const [other, setOther] = useState<string[]>(() => entry.questions.map(() => ''))
  const [result, answer] = useMutation(ANSWER)
  const [, interrupt] = useMutation(INTERRUPT)
  const answers = entry.questions.map((_, i) => (chosen[i] === OTHER ? other[i]!.trim() : chosen[i]!))
  const complete = answers.every((a) => a !== '')
  const set = (list: string[], i: number, value: string) => list.map((x, j) => (j === i ? value : x))
  return (
    <form
      aria-label="answer the question"
      onSubmit={(e) => {
        e.preventDefault()
        if (complete) void answer({ chatId, questionId: entry.questionId, answers })
      }}
    >
      {entry.questions.map((q, i) => {
        const name = `${entry.questionId}-${i}`
        return (
          <fieldset key={i} className="question-item">
            <legend>
              {q.header && <span className="question-header">{q.header}</span>}
              <span className="question-text">{q.question}</span>
            </legend>
            {q.options.map((o) => (
              <label key={o.label} className="option">
                <input type="radio" name={name} value={o.label} checked={chosen[i] === o.label} onChange={() => setChosen((c) => set(c, i, o.label))} />
                <span className="option-label">{o.label}</span>
                {o.description && <span className="option-description">{o.description}</span>}
              </label>
            ))}
            <label className="option other">
              <input type="radio" name={name} value="other" checked={chosen[i] === OTHER} onChange={() => setChosen((c) => set(c, i, OTHER))} aria-label={`Other answer to ${q.header || q.question}`} />
              <span className="option-label">Other</span>
              <input
                type="text"
                aria-label={`your own answer to ${q.header || q.question}`}
                placeholder="your own answer"
                value={other[i]}
                onFocus={() => setChosen((c) => set(c, i, OTHER))}
                onChange={(e) => {
                  const value = e.target.value
                  setOther((o) => set(o, i, value))
                  setChosen((c) => set(c, i, OTHER))
                }}
              />
            </label>
          </fieldset>
        )
      })}
      <div className="question-actions">
        <button type="button" className="secondary" onClick={() => void interrupt({ chatId })} title="End the turn without answering">
          Dismiss
        </button>
        <button type="submit" disabled={!complete || result.fetching}>
          {entry.questions.length > 1 ? 'Submit answers' : 'Submit answer'}
        </button>
      </div>
      {result.error && (
        <p className="error" role="alert">
          {errorMessage(result.error)}
        </p>
      )}
    </form>
  )
}

export function QuestionCard({ entry, chatId, open }: { entry: QuestionEntry; chatId: string; open: boolean }) {
  const title = entry.questions.length > 1 ? `The agent asks ${entry.questions.length} questions` : 'The agent asks'
  return (
    <section className={`question-card ${entry.answer ? 'answered' : entry.dismissed ? 'dismissed' : 'open'}`} aria-label="question" data-revision={entry.revision}>
      <h2>{title}</h2>
      {open && !entry.answer && !entry.dismissed ? (
        <AnswerForm entry={entry} chatId={chatId} />
      ) : (
        <dl>
          {entry.questions.map((q, i) => (
            <div key={i} className="question-item">
              <dt>
                {q.header && <span className="question-header">{q.header}</span>}
                <span className="question-text">{q.question}</span>
              </dt>
              {entry.answer && !entry.answer.freeText && <dd className="answer">{entry.answer.answers[i]}</dd>}
            </div>
          ))}
          {entry.answer?.freeText && <dd className="answer free-text">Answered in your own words: {entry.answer.answers.join('\n')}</dd>}
          {!entry.answer && <dd className="muted">{entry.dismissed ? 'Not answered: the turn was stopped.' : 'Waiting for an answer.'}</dd>}
        </dl>
      )}
    </section>
  )
}
