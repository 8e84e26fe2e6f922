// `npm run soak [-- --minutes N] [--kills N] [--only 1,3,…] [--keep]`: the faults of issue 14, injected into real
// `cairn serve` processes on loopback, then checked from the log. Bounded: each fault gets a share of
// the minutes, every wait has a limit, and a watchdog ends the run at three times its budget.
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { openDatabase } from '../src/db/database.ts'
import { createSqlEventStore } from '../src/eventstore/postgres/index.ts'
import { waitUntil } from './checks.ts'
import { openSoakDatabase, type SoakDatabase } from './cluster.ts'
import { emptyResult, fail, type FaultResult, type SoakContext } from './context.ts'
import { daemonKills } from './faults/daemon.ts'
import { graphqlFuzz } from './faults/fuzz.ts'
import { postgresRestarts } from './faults/postgres-restart.ts'
import { providerFaults } from './faults/provider.ts'
import { singleRunnerKills, twoRunnerTakeovers } from './faults/runner-kills.ts'
import { slowSubscribers } from './faults/slow-subscribers.ts'
import { Fleet, processesMentioning } from './fleet.ts'
import { SoakModel } from './model.ts'
import { printTable } from './table.ts'

const SHARED_ADMIN_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'
/** A provider stream silent this long is abandoned: the silence fault must not hold a turn for 2 minutes. */
const SILENCE_SECONDS = 3

type Phase = { share: number; run: (ctx: SoakContext, until: number) => Promise<FaultResult> }

export async function runSoak(args: string[], print: (line: string) => void, progress: (line: string) => void): Promise<number> {
  const { values } = parseArgs({
    args,
    options: { minutes: { type: 'string', default: '5' }, kills: { type: 'string', default: '50' }, only: { type: 'string' }, keep: { type: 'boolean', default: false } },
  })
  const only = values.only ? new Set(values.only.split(',').map(Number)) : null
  const minutes = Number(values.minutes)
  const maxKills = Number(values.kills)
  if (!(minutes > 0) || !(maxKills > 0)) throw new Error('--minutes and --kills take positive numbers')
  const began = Date.now()
  const deadline = began + minutes * 60_000
  const log = (line: string) => progress(`[soak ${((Date.now() - began) / 1000).toFixed(0).padStart(4)}s] ${line}`)

  const root = mkdtempSync(join(tmpdir(), 'cairn-soak-'))
  chmodSync(root, 0o755) // the cluster's own user (postgres, when we are root) must reach its folder
  let database: SoakDatabase | null = null
  let model: SoakModel | null = null
  let fleet: Fleet | null = null
  let ctx: SoakContext | null = null
  let tornDown: Promise<FaultResult> | null = null
  const teardown = () =>
    (tornDown ??= (async () => {
      const row = emptyResult('after all: teardown')
      if (ctx) {
        // Connections: each server holds at most its pool (10) and one LISTEN session.
        const [conns] = await ctx.db.query<{ n: number }>(`select count(*)::int as n from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid()`).catch(() => [{ n: 0 }])
        const alive = fleet!.started.filter((s) => s.alive()).length
        if ((conns?.n ?? 0) > alive * 11 + 10) {
          row.leaks++
          row.notes.push(`${conns!.n} database connections for ${alive} server(s)`)
        }
        await ctx.store.close()
        await ctx.db.close()
      }
      if (fleet) {
        mkdirSync(join(root, 'logs'), { recursive: true })
        for (const [i, s] of fleet.started.entries()) writeFileSync(join(root, 'logs', `${i}-${s.slot}.log`), s.output())
        await fleet.stopAll()
      }
      await new Promise((r) => setTimeout(r, 1000))
      const left = processesMentioning(root).filter((p) => !/postgres/.test(p.cmdline))
      if (left.length) {
        row.leaks += left.length
        row.notes.push(`${left.length} process(es) left behind: ${left.map((p) => p.cmdline.slice(0, 60)).join('; ')}`)
        for (const p of left) process.kill(p.pid, 'SIGKILL')
      }
      await model?.close()
      await database?.close().catch(() => {})
      return row
    })())
  const onSignal = () => void teardown().finally(() => process.exit(130))
  process.once('SIGINT', onSignal)
  process.once('SIGTERM', onSignal)
  const results: FaultResult[] = []
  const watchdog = setTimeout(() => {
    const row = emptyResult('the soak itself')
    row.failures = 1
    row.notes.push(`overran three times its ${minutes} minute(s) (+5); stopped`)
    void teardown()
      .then((last) => printTable(print, [...results, row, last], { minutes: (Date.now() - began) / 60_000 }))
      .finally(() => process.exit(1))
  }, minutes * 3 * 60_000 + 5 * 60_000)
  watchdog.unref()

  let failed = true
  let crashWatch: NodeJS.Timeout | undefined
  try {
    log(`setting up in ${root}`)
    database = await openSoakDatabase(join(root, 'pg'), SHARED_ADMIN_URL)
    log(database.restart ? `own PostgreSQL cluster: ${database.url}` : `shared PostgreSQL (${database.noRestartReason})`)
    model = await SoakModel.start()
    fleet = new Fleet(root, database.url, SILENCE_SECONDS)
    const api = await fleet.start('api', 'api')
    const r1 = await fleet.start('r1', 'runner')
    await fleet.gql(api, `mutation($url: String!) { configureProvider(input: { id: "soak", kind: anthropic, baseUrl: $url, apiKey: "sk-ant-soak-0000000000000000" }) { id } }`, { url: model.fake.baseUrl })
    await fleet.gql(api, `mutation { configureModel(input: { id: "soak-model", providerId: "soak", modelName: "claude-soak", isDefault: true, pricing: { input: 3, output: 15 } }) { id } }`)
    // The workspace is made through the runner's own process: its daemon dials that process.
    const { templates } = await fleet.gql<{ templates: { id: string; name: string }[] }>(r1, `{ templates { id name } }`)
    const template = templates.find((t) => t.name === 'local') ?? templates[0]!
    const { createWorkspace } = await fleet.gql<{ createWorkspace: { id: string } }>(r1, `mutation($t: ID!) { createWorkspace(input: { templateId: $t, name: "soak" }) { id } }`, { t: template.id })
    const connected = await waitUntil(async () => (await fleet!.gql(r1, `query($id: ID!) { workspace(id: $id) { agentConnected } }`, { id: createWorkspace.id })).workspace?.agentConnected === true, 60_000, 250)
    if (!connected) throw new Error('the soak workspace daemon never connected')
    const db = await openDatabase({ url: database.url })
    ctx = {
      fleet,
      api,
      runners: new Map([['r1', r1]]),
      db,
      store: createSqlEventStore(db),
      database,
      model,
      workspace: { id: createWorkspace.id, folder: join(fleet.dataDir('r1'), 'workspaces', createWorkspace.id) },
      log,
    }
    log('set up; injecting faults')
    // A server that dies without being killed is a failure of the fault running then; a runner's slot is filled again at once.
    const crashes: string[] = []
    let respawning = false
    crashWatch = setInterval(() => {
      if (respawning || !ctx) return
      const crashed = fleet!.crashed()
      if (!crashed.length) return
      respawning = true
      void (async () => {
        for (const s of crashed) {
          s.ended = true
          crashes.push(`${s.slot} crashed: ${s.output().trim().split('\n').slice(-12).join(' | ').slice(0, 600)}`)
          log(`${s.slot} crashed; starting it again`)
          if (s.slot !== 'api' && ctx!.runners.get(s.slot) === s) ctx!.runners.set(s.slot, await fleet!.start(s.slot, 'runner'))
        }
      })().finally(() => (respawning = false))
    }, 500)

    const allPhases: Phase[] = [
      { share: 0.22, run: (c, until) => singleRunnerKills(c, until, maxKills) },
      { share: 0.26, run: (c, until) => twoRunnerTakeovers(c, until, maxKills) },
      { share: 0.14, run: postgresRestarts },
      { share: 0.1, run: providerFaults },
      { share: 0.1, run: daemonKills },
      { share: 0.08, run: graphqlFuzz },
      { share: 0.1, run: slowSubscribers },
    ]
    const phases = allPhases.filter((_, i) => !only || only.has(i + 1))
    for (const [i, phase] of phases.entries()) {
      // What is left of the budget, shared among the faults still to come (a fault that overran takes from the rest).
      const rest = phases.slice(i).reduce((sum, p) => sum + p.share, 0)
      const until = Date.now() + Math.max(0, deadline - Date.now()) * (phase.share / rest)
      const result = await phase.run(ctx, until)
      await new Promise((r) => setTimeout(r, 600))
      for (const crash of crashes.splice(0)) fail(result, 1, crash)
      results.push(result)
      if (!ctx.api.alive()) throw new Error('the API process crashed')
      log(`${result.fault}: ${result.skipped ? `skipped (${result.skipped})` : `${result.injected} injected, ${result.failures + result.lost + result.twice + result.chains + result.leaks} problem(s)`}`)
    }
    failed = false
  } catch (err) {
    const row = emptyResult('the soak itself')
    row.failures = 1
    row.notes.push(`stopped: ${(err as Error).stack ?? err}`)
    results.push(row)
  } finally {
    clearInterval(crashWatch)
    clearTimeout(watchdog)
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
    results.push(await teardown())
  }
  const ok = printTable(print, results, { minutes: (Date.now() - began) / 60_000 })
  if (ok && !failed && !values.keep) rmSync(root, { recursive: true, force: true })
  else print(`servers' output and the cluster's log: ${root}`)
  return ok && !failed ? 0 : 1
}
