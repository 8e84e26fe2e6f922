// `cairn chat`: a terminal client for a running Cairn server, over its public GraphQL API.
// Interactive by default; `--send TEXT [--chat ID] [--wait]` for scripts.
import { readFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { ApiError, connectChatApi, openStream, type ChatApi, type ChatStreamItem } from './chat-client.ts'
import { converse } from './chat-interactive.ts'
import { ChatRenderer, write, type TurnEnd } from './chat-render.ts'
import type { CliIo } from './commands.ts'

const USAGE = `usage: cairn chat [--url URL] [--token TOKEN] [--chat ID] [--send TEXT [--wait]]

  --url     the server (default $CAIRN_URL or http://127.0.0.1:8080)
  --token   an API token (default $CAIRN_TOKEN, else <CAIRN_DATA_DIR or ./.cairn>/admin-token)
  --chat    use this chat instead of choosing one (or creating one with --send)
  --send    post TEXT and exit; with --wait, print the streamed answer and exit when the turn ends
            (0 completed, 1 failed, 130 interrupted)

Interactively: pick a chat, then type messages. Messages typed while a turn runs are queued.
Ctrl-C during a turn interrupts it; Ctrl-C twice when idle (or Ctrl-D) exits.`

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

async function sendFromScript(api: ChatApi, io: CliIo, opts: { text: string; chatId: string | undefined; wait: boolean }): Promise<number> {
  const chat = opts.chatId ? await api.chat(opts.chatId) : await api.createChat(titleFrom(opts.text))
  if (!opts.wait) {
    const sent = await api.sendMessage(chat.id, opts.text)
    io.out(`chat ${chat.id}: message ${sent.messageId} ${sent.queued ? 'queued' : 'posted'}`)
    return 0
  }
  const renderer = new ChatRenderer({ write, verbose: false })
  let ours: string | null = null
  let answered: string | null = null
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
      // Our message answered the question the turn waited on: the turn goes on from here.
      if (item.__typename === 'ChatEventItem' && item.event.type === 'QuestionAnswered' && item.event.data['questionId'] === answered) {
        ourTurnStarted = true
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
        const sent = await api.sendMessage(chat.id, opts.text)
        ours = sent.messageId
        answered = sent.answeredQuestionId
        for (const item of early.splice(0)) onItem(item)
      })
      .catch(rejectEnd)
  })
  const end = await ended
  if (end.kind === 'completed') return 0
  if (end.kind === 'question') {
    io.err(`cairn chat: the agent asked a question; answer with: cairn chat --chat ${chat.id} "<your answer>"`)
    return 0
  }
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
