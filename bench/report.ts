/**
 * What a benchmark prints: table lines for people, and with `--json` one JSON object per
 * figure (`bench`, `measure`, `value`, `baseline`, `ratio`) for scripts.
 */
export interface Report {
  /** A line of the human-readable report. */
  (line: string): void
  /**
   * A named figure. `baseline` is the same measure of the baseline run beside it in this
   * process (0 when the figure has none); `ratio` is value/baseline, or null without one.
   */
  figure(measure: string, value: number, baseline?: number): void
}

export function createReport(bench: string, out: (line: string) => void, json: boolean): Report {
  const report = ((line: string) => out(line)) as Report
  report.figure = (measure, value, baseline = 0) => {
    if (!json) return
    const round = (n: number) => Math.round(n * 1000) / 1000
    const ratio = baseline ? round(value / baseline) : null
    out(JSON.stringify({ bench, measure, value: round(value), baseline: round(baseline), ratio }))
  }
  return report
}
