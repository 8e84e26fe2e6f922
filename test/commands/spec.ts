import { expect } from 'vitest'
import type { Decider } from '../../commands/decider.ts'
import { CommandError, type CommandErrorCode } from '../../commands/errors.ts'

/**
 * Given events / When command / Then events, after Emmett's DeciderSpecification:
 * `spec(decider).given([...]).when(cmd).then([...])` or `.thenThrows('CODE')`.
 */
export function spec<Command, State, Event extends { type: string; data: unknown }>(decider: Decider<Command, State, Event>) {
  return {
    given(events: Event[]) {
      return {
        when(command: Command) {
          const decide = () => decider.decide(command, events.reduce(decider.evolve, decider.initialState()))
          return {
            then(expected: Event[]) {
              expect(decide()).toEqual(expected)
            },
            thenThrows(code: CommandErrorCode, message?: RegExp) {
              let thrown: unknown
              try {
                decide()
              } catch (err) {
                thrown = err
              }
              expect(thrown, 'the command should have been rejected').toBeInstanceOf(CommandError)
              expect((thrown as CommandError).code).toBe(code)
              if (message) expect((thrown as CommandError).message).toMatch(message)
            },
          }
        },
      }
    },
  }
}

/** Folds events into a state with the decider's own evolve. */
export const fold = <State, Event>(decider: Pick<Decider<unknown, State, Event & { type: string; data: unknown }>, 'evolve' | 'initialState'>, events: Event[]) =>
  events.reduce<State>((s, e) => decider.evolve(s, e as Event & { type: string; data: unknown }), decider.initialState())
