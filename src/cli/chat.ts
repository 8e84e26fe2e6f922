// `cairn chat`: a terminal client for a running Cairn server, over its public GraphQL API.
// Interactive by default; `--send TEXT [--chat ID] [--wait]` for scripts.
import { readFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { createInterface, type Interface } from 'node:readline'
import { parseArgs } from 'node:util'
import { ApiError, connectChatApi, type ChatApi, type ChatStreamItem, type ChatSummary } from './chat-client.ts'
import { ChatRenderer, type TurnEnd } from './chat-render.ts'
import type { CliIo } from './commands.ts'

const USAGE = `usage: cairn chat [--url URL] [--token TOKEN] [--chat ID] [--send TEXT [--wait]]

  --url     the server (default $CAIRN_URL or http://127.0.0.1:8080)
  --token   an API token (default $CAIRN_TOKEN, else <CAIRN_DATA_DIR or ./.cairn>/admin-token)
  --chat    use this chat instead of choosing one (or creating one with --send)
  --send    post TEXT and exit; with --wait, print the streamed answer and exit when the turn ends
            (0 completed, 1 failed, 130 interrupted)

Interactively: pick a chat, then type messages. Messages typed while a turn runs are queued.
Ctrl-C during a turn interrupts it; Ctrl-C twice when idle (or Ctrl-D) exits.`

const RECENT_CHATS = 10

export const chatCommand = {
  usage: 'chat [--send TEXT [--wait]] [--chat ID]',
  summary: 'talk to an agent on a running server: interactively, or send one message from a script',
  async run(args: string[], io: CliIo): Promise<number> {
    let values
    try {
      values = parseArgs({
        args,
        options: {
          url: { type: 'string' },
          token: { type: 'string' },
          chat: { type: 'string' },
          send: { type: 'string' },
          wait: { type: 'boolean' },
          help: { type: 'boolean', short: 'h' },
        },
      }).values
    } catch (err) {
      io.err(`${(err as Error).message}\n\n${USAGE}`)
      return 2
    }
    if (values.help) {
      io.out(USAGE)
      return 0
    }
    if (values.wait && values.send === undefined) {
      io.err(`--wait goes with --send\n\n${USAGE}`)
      return 2
    }
    const url = values.url ?? io.env['CAIRN_URL'] ?? 'http://127.0.0.1:8080'
    const token = values.token ?? io.env['CAIRN_TOKEN'] ?? readAdminToken(io.env)
    if (!token) {
      io.err(`no API token: pass --token, set CAIRN_TOKEN, or run where ${adminTokenPath(io.env)} exists`)
      return 2
    }
    const api = connectChatApi(url, token)
    try {
      if (values.send !== undefined) return await sendFromScript(api, io, { text: values.send, chatId: values.chat, wait: values.wait ?? false })
      return await converse(api, io, url, values.chat)
    } catch (err) {
      io.err(`cairn chat: ${err instanceof ApiError ? `${err.message} (${err.code})` : (err as Error).message}`)
      return 1
    } finally {
      await api.close()
    }
  },
}

function adminTokenPath(env: Record<string, string | undefined>): string {
  return join(resolve(env['CAIRN_DATA_DIR']?.trim() || './.cairn'), 'admin-token')
}

function readAdminToken(env: Record<string, string | undefined>): string | undefined {
  try {
    return readFileSync(adminTokenPath(env), 'utf8').trim() || undefined
  } catch {
    return undefined
  }
}

const write = (text: string) => void process.stdout.write(text)

/**
 * Subscribes to the chat and resolves once the subscription is live: it starts at the chat's
 * last stored event, so that event's arrival proves the server is listening (and its
 * ephemeral deltas reach us) before we post anything.
 */
function openStream(api: ChatApi, chat: ChatSummary, onItem: (item: ChatStreamItem) => void, onEnd: (err: Error) => void) {
  let live = false
  let markLive = () => {}
  let stopStream = () => {}
  const ready = new Promise<void>((resolveReady, rejectReady) => {
    markLive = resolveReady
    const stop = api.stream(chat.id, chat.revision, {
      item(item) {
        if (!live) {
          if (item.__typename !== 'ChatEventItem' || item.event.revision < chat.revision) return
          live = true
          markLive()
          return // the event we started at is history
        }
        onItem(item)
      },
      error(err) {
        if (!live) rejectReady(err)
        else onEnd(err)
      },
      closed() {
        const err = new Error('the server ended the chat stream')
        if (!live) rejectReady(err)
        else onEnd(err)
      },
    })
    stopStream = stop
  })
  return { ready, stop: () => stopStream() }
}

async function sendFromScript(api: ChatApi, io: CliIo, opts: { text: string; chatId: string | undefined; wait: boolean }): Promise<number> {
  const chat = opts.chatId ? await api.chat(opts.chatId) : await api.createChat(titleFrom(opts.text))
  if (!opts.wait) {
    const sent = await api.sendMessage(chat.id, opts.text)
    io.out(`chat ${chat.id}: message ${sent.messageId} ${sent.queued ? 'queued' : 'posted'}`)
    return 0
  }
  const renderer = new ChatRenderer({ write, verbose: false })
  let ours: string | null = null
  let ourTurnStarted = false
  // Our message's event can arrive before sendMessage answers with its id: hold items until then.
  const early: ChatStreamItem[] = []
  const ended = new Promise<TurnEnd>((resolveEnd, rejectEnd) => {
    const onItem = (item: ChatStreamItem) => {
      if (ours === null) return void early.push(item)
      if (item.__typename === 'ChatEventItem' && item.event.type === 'UserMessagePosted') {
        const d = item.event.data
        if (d['messageId'] === ours || d['fromQueueId'] === ours) ourTurnStarted = true
      }
      // Another message's turn may still be running in --chat; show only ours.
      if (!ourTurnStarted) return
      const end = renderer.render(item)
      if (end) {
        stream.stop()
        resolveEnd(end)
      }
    }
    const stream = openStream(api, chat, onItem, rejectEnd)
    stream.ready
      .then(async () => {
        ours = (await api.sendMessage(chat.id, opts.text)).messageId
        for (const item of early.splice(0)) onItem(item)
      })
      .catch(rejectEnd)
  })
  const end = await ended
  if (end.kind === 'completed') return 0
  if (end.kind === 'interrupted') {
    io.err(`cairn chat: the turn was interrupted (chat ${chat.id})`)
    return 130
  }
  io.err(`cairn chat: the turn failed: ${end.errorKind}: ${end.message} (chat ${chat.id})`)
  return 1
}

function titleFrom(text: string): string {
  const line = text.trim().split('\n')[0] ?? ''
  return (line.length > 60 ? line.slice(0, 59) + '…' : line) || 'New chat'
}

/** The interactive session: resolves with the exit code when the user leaves. */
async function converse(api: ChatApi, io: CliIo, url: string, chatId: string | undefined): Promise<number> {
  const me = await api.me()
  io.out(`connected to ${url} as ${me.email} (${me.role.toLowerCase()})`)
  const rl = createInterface({ input: process.stdin, output: process.stdout, terminal: process.stdin.isTTY ?? false })
  try {
    const chat = chatId ? await api.chat(chatId) : await pickChat(api, io, rl)
    if (!chat) return 0
    return await talk(api, io, rl, chat)
  } finally {
    rl.close()
  }
}

async function pickChat(api: ChatApi, io: CliIo, rl: Interface): Promise<ChatSummary | null> {
  const recent = await api.recentChats(RECENT_CHATS)
  if (recent.length) {
    io.out('recent chats:')
    recent.forEach((c, i) => io.out(`  ${String(i + 1).padStart(2)}) ${c.title}  [${c.status.toLowerCase()}${c.queueLength ? `, ${c.queueLength} queued` : ''}]  ${c.updatedAt}`))
  }
  for (;;) {
    const answer = await ask(rl, recent.length ? `chat number, or Enter for a new chat: ` : `no chats yet; Enter for a new chat: `)
    if (answer === null) return null
    const choice = answer.trim()
    if (!choice || choice === 'n' || choice === 'new') {
      const chat = await api.createChat('New chat')
      io.out(`new chat ${chat.id}`)
      return chat
    }
    const n = Number(choice)
    const picked = Number.isInteger(n) ? recent[n - 1] : undefined
    if (picked) return picked
    io.out(`${choice} is not one of 1–${recent.length}`)
  }
}

/** Resolves with the line, or null when input ends or Ctrl-C is pressed. */
function ask(rl: Interface, prompt: string): Promise<string | null> {
  return new Promise((resolveAnswer) => {
    const onClose = () => resolveAnswer(null)
    const onSigint = () => {
      rl.off('close', onClose)
      resolveAnswer(null)
    }
    rl.once('close', onClose)
    rl.once('SIGINT', onSigint)
    rl.question(prompt, (answer) => {
      rl.off('close', onClose)
      rl.off('SIGINT', onSigint)
      resolveAnswer(answer)
    })
  })
}

async function talk(api: ChatApi, io: CliIo, rl: Interface, chat: ChatSummary): Promise<number> {
  const renderer = new ChatRenderer({ write, verbose: true })
  renderer.status = chat.status
  io.out(`chat "${chat.title}" (${chat.id}), ${chat.status.toLowerCase()}. Type a message; Ctrl-C interrupts a turn, twice when idle exits.`)
  rl.setPrompt('> ')
  let armedExit = false

  return new Promise<number>((resolveExit) => {
    let finished = false
    const finish = (code: number) => {
      if (finished) return
      finished = true
      stream.stop()
      resolveExit(code)
    }
    const stream = openStream(
      api,
      chat,
      (item) => {
        const end = renderer.render(item)
        if (end && !renderer.busy) rl.prompt()
      },
      (err) => {
        io.err(`cairn chat: ${err.message}`)
        finish(1)
      },
    )
    stream.ready.then(
      () => rl.prompt(),
      (err: Error) => {
        io.err(`cairn chat: cannot stream chat ${chat.id}: ${err.message}`)
        finish(1)
      },
    )

    rl.on('line', (line) => {
      armedExit = false
      const text = line.trim()
      if (!text) {
        if (!renderer.busy) rl.prompt()
        return
      }
      if (text === '/quit' || text === '/exit') return finish(0)
      const wasBusy = renderer.busy
      if (!wasBusy) renderer.status = 'PENDING'
      api.sendMessage(chat.id, text).then(
        // The MessageQueued event prints the notice; say it now too in case the stream lags.
        (sent) => sent.queued && !wasBusy && io.out('(queued behind the running turn)'),
        (err: Error) => {
          io.err(`not sent: ${err.message}`)
          rl.prompt()
        },
      )
    })
    rl.on('SIGINT', () => {
      if (renderer.busy) {
        armedExit = false
        write('\n')
        io.out('(interrupting…)')
        api.interruptChat(chat.id).catch((err: Error) => io.err(`interrupt failed: ${err.message}`))
        return
      }
      if (armedExit) return finish(0)
      armedExit = true
      write('\n')
      io.out('(Ctrl-C again to exit)')
      rl.prompt()
    })
    rl.on('close', () => finish(0))
  })
}
