// Fault 5: the workspace daemon killed while a command runs in it (the local provisioner starts it
// again). The model gets an error for that command, the output of a background process started
// before is still readable through the new daemon, and the turn goes on to its end.
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { waitUntil } from '../checks.ts'
import { addChatChecks, emptyResult, fail, sleep, type FaultResult, type SoakContext } from '../context.ts'
import { descendantsOf } from '../fleet.ts'
import { ChatLoad } from '../load.ts'
import { RUNS_LOG } from '../model.ts'

export async function daemonKills(ctx: SoakContext, until: number): Promise<FaultResult> {
  const result = emptyResult('5 workspace daemon killed')
  const load = new ChatLoad(ctx.fleet, ctx.api, ctx.db, { plans: ['daemon'], busy: 0, maxChats: 0, workspaceId: ctx.workspace.id })
  const runsLog = join(ctx.workspace.folder, RUNS_LOG)
  let noError = 0
  let unreadable = 0
  do {
    const chatId = await load.createChat()
    if (!chatId) {
      fail(result, 1, 'the API refused a chat')
      break
    }
    const label = load.labelOf(chatId)!
    // The long command is running once its nonce is in the workspace's runs log.
    const started = await waitUntil(async () => {
      const nonce = ctx.model.longCommandByChat.get(label)
      return nonce !== undefined && existsSync(runsLog) && readFileSync(runsLog, 'utf8').includes(nonce)
    }, 30_000, 50)
    const runner = ctx.runners.get('r1')!
    const daemon = descendantsOf(runner.child.pid!).find((p) => p.cmdline.includes('workspace-agent/main.ts') && p.cmdline.includes(ctx.workspace.folder) && !p.cmdline.includes('bwrap'))
    if (!started || !daemon) {
      fail(result, 1, started ? 'no workspace daemon process found to kill' : 'the long command never started')
      break
    }
    await sleep(300)
    process.kill(daemon.pid, 'SIGKILL')
    result.injected++
    ctx.log(`fault 5: killed the workspace daemon (pid ${daemon.pid}) under chat ${chatId}`)
    await waitUntil(async () => ctx.model.daemonResults.get(label)?.output !== undefined, 60_000, 200)
    const seen = ctx.model.daemonResults.get(label)
    if (!seen?.killedCall?.error) noError++
    if (!seen?.output?.includes('tick-')) unreadable++
  } while (Date.now() < until)
  result.runs = load.chats.length
  await addChatChecks(ctx, result, load)
  for (const chatId of load.chats) {
    const events = await ctx.store.readStream(`chat-${chatId}`)
    if (events.at(-1)?.type !== 'TurnCompleted') fail(result, 1, `chat ${chatId} did not go on to complete its turn (last: ${events.at(-1)?.type})`)
  }
  fail(result, noError, 'the killed command did not answer the model with an error')
  fail(result, unreadable, "the background process's output was not readable after the restart")
  return result
}
