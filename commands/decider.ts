/** The write-side shape, after Emmett: pure decide/evolve/initialState per aggregate. */
export interface Decider<Command, State, Event extends { type: string; data: unknown }> {
  decide(command: Command, state: State): Event[]
  evolve(state: State, event: Event): State
  initialState(): State
}
