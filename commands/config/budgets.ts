import type { Budget } from '../../src/events/budgets.ts'
import { invalidInput } from '../errors.ts'

/** A billion dollars: past it a limit is the same as none, and sums of micros stay exact in a double. */
export const MAX_LIMIT_MICROS = 1_000_000_000 * 1_000_000

const PERIODS: Record<Budget['scope'], readonly Budget['period'][]> = {
  user: ['day', 'week', 'month'],
  organization: ['day', 'week', 'month'],
  chat: ['lifetime'],
}

/** The rules of a spend limit; a refusal names what to send instead. */
export function validateBudget(b: Budget): Budget {
  const periods = PERIODS[b.scope]
  if (!periods) throw invalidInput(`scope is USER, CHAT or ORGANIZATION; got ${JSON.stringify(b.scope)}`)
  if (!b.organizationId.trim()) throw invalidInput('organization id must not be empty')
  if (!periods.includes(b.period))
    throw invalidInput(
      b.scope === 'chat'
        ? `a CHAT limit counts the chat's whole life: leave period out (got ${b.period.toUpperCase()})`
        : `a ${b.scope.toUpperCase()} limit needs a period: DAY, WEEK or MONTH (UTC calendar periods)`,
    )
  if (b.userId !== null && b.scope !== 'user') throw invalidInput(`userId is for USER limits only; a ${b.scope.toUpperCase()} limit applies to the whole ${b.scope === 'chat' ? 'chat' : 'organization'}`)
  if (b.limitMicros !== null && !(Number.isSafeInteger(b.limitMicros) && b.limitMicros >= 0 && b.limitMicros <= MAX_LIMIT_MICROS))
    throw invalidInput(`limitMicros is a whole number of micro-dollars (USD × 1,000,000) from 0 to ${MAX_LIMIT_MICROS}, or null to remove the limit; got ${b.limitMicros}`)
  return b
}
