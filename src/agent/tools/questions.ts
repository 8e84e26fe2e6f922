// ask_user_question: the model asks the user structured questions; the turn waits for the answer.
import type { Question } from '../../events/chat.ts'
import type { Tool } from './registry.ts'

export const QUESTION_LIMITS = { questions: 4, options: 6, header: 40, text: 2_000 } as const

/** Checks the model's questions; a message the model can act on when they are not usable. */
export function parseQuestions(args: unknown): Question[] | string {
  const raw = (args as { questions?: unknown } | null)?.questions
  if (!Array.isArray(raw) || raw.length === 0) return 'questions must be a non-empty list of {header, question, options}'
  if (raw.length > QUESTION_LIMITS.questions) return `ask at most ${QUESTION_LIMITS.questions} questions at once, not ${raw.length}`
  const out: Question[] = []
  for (const [i, q] of raw.entries()) {
    const n = i + 1
    const { header, question, options = [] } = (q ?? {}) as { header?: unknown; question?: unknown; options?: unknown }
    if (typeof question !== 'string' || !question.trim()) return `question ${n} has no question text`
    if (question.length > QUESTION_LIMITS.text) return `question ${n} is longer than ${QUESTION_LIMITS.text} characters`
    if (header !== undefined && (typeof header !== 'string' || header.length > QUESTION_LIMITS.header)) return `question ${n}: header must be a short label (at most ${QUESTION_LIMITS.header} characters)`
    if (!Array.isArray(options) || options.length > QUESTION_LIMITS.options) return `question ${n}: options must be a list of at most ${QUESTION_LIMITS.options} {label, description}`
    const parsed: Question['options'] = []
    for (const [j, o] of options.entries()) {
      const { label, description = '' } = (o ?? {}) as { label?: unknown; description?: unknown }
      if (typeof label !== 'string' || !label.trim()) return `question ${n}, option ${j + 1} has no label`
      if (typeof description !== 'string') return `question ${n}, option ${j + 1}: description must be text`
      parsed.push({ label: label.trim().slice(0, QUESTION_LIMITS.text), description: description.slice(0, QUESTION_LIMITS.text) })
    }
    out.push({ header: typeof header === 'string' && header.trim() ? header.trim() : `Question ${n}`, question: question.trim(), options: parsed })
  }
  return out
}

export const askUserQuestion: Tool = {
  name: 'ask_user_question',
  description:
    'Plan mode: asks the user one to four clarifying questions, each with suggested options (the user may also answer in their own words). The turn ends and waits; the answers come back as this tool\'s result.',
  inputSchema: {
    type: 'object',
    properties: {
      questions: {
        type: 'array',
        minItems: 1,
        maxItems: QUESTION_LIMITS.questions,
        items: {
          type: 'object',
          properties: {
            header: { type: 'string', description: 'A short label, like "Database" or "Scope".' },
            question: { type: 'string', description: 'The question, ending with a question mark.' },
            options: {
              type: 'array',
              maxItems: QUESTION_LIMITS.options,
              items: {
                type: 'object',
                properties: { label: { type: 'string' }, description: { type: 'string', description: 'What choosing it means.' } },
                required: ['label'],
              },
            },
          },
          required: ['header', 'question', 'options'],
        },
      },
    },
    required: ['questions'],
  },
  availability: (chat) => chat.parentChatId === null && chat.planMode,
  async run(args) {
    const questions = parseQuestions(args)
    if (typeof questions === 'string') return { content: `ask_user_question: ${questions}`, isError: true }
    return { content: '', isError: false, suspend: { kind: 'question', questions } }
  },
  // Asking has no effect outside the chat: after a crash, ask again.
  recover(args, ctx) {
    return this.run(args, ctx)
  },
}
