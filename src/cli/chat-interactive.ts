// The interactive side of `cairn chat`: pick or create a chat, then type messages while the
// agent's answer streams. Messages typed during a turn are queued; Ctrl-C interrupts the turn.
import { createInterface, type Interface } from 'node:readline'
import { openStream, type ChatApi, type ChatSummary } from './chat-client.ts'
import { ChatRenderer, write } from './chat-render.ts'
import type { CliIo } from './commands.ts'

const RECENT_CHATS = 10

/**
 * Every input line in order, whether or not anyone is waiting for it yet: piped input arrives
 * at once, and readline drops lines that come while no `question` is pending.
 */
class InputLines {
  readonly #queue: string[] = []
  #waiter: ((line: string | null) => void) | null = null
  #ended = false

  constructor(rl: Interface) {
    rl.on('line', (line) => {
      if (this.#waiter) this.#take(line)
      else this.#queue.push(line)
    })
    rl.on('close', () => {
      this.#ended = true
      this.#take(null)
    })
  }

  get ended(): boolean {
    return this.#ended
  }

  /** Shows the prompt unless input has ended (readline throws on a closed interface). */
  prompt(rl: Interface) {
    if (!this.#ended) rl.prompt()
  }

  /** The next line, or null once input has ended. */
  next(): Promise<string | null> {
    if (this.#queue.length) return Promise.resolve(this.#queue.shift()!)
    if (this.#ended) return Promise.resolve(null)
    return new Promise((resolve) => (this.#waiter = resolve))
  }

  #take(line: string | null) {
    const waiter = this.#waiter
    this.#waiter = null
    waiter?.(line)
  }
}

/** The interactive session: resolves with the exit code when the user leaves. */
export async function converse(api: ChatApi, io: CliIo, url: string, chatId: string | undefined): Promise<number> {
  const me = await api.me()
  io.out(`connected to ${url} as ${me.email} (${me.role.toLowerCase()})`)
  const rl = createInterface({ input: process.stdin, output: process.stdout, terminal: process.stdin.isTTY ?? false })
  const lines = new InputLines(rl)
  // Ctrl-C while choosing a chat leaves; talk() installs its own handler.
  const leave = () => rl.close()
  rl.on('SIGINT', leave)
  try {
    const chat = chatId ? await api.chat(chatId) : await pickChat(api, io, rl, lines)
    if (!chat) return 0
    rl.off('SIGINT', leave)
    return await talk(api, io, rl, lines, chat)
  } finally {
    rl.close()
  }
}

async function pickChat(api: ChatApi, io: CliIo, rl: Interface, lines: InputLines): Promise<ChatSummary | null> {
  const recent = await api.recentChats(RECENT_CHATS)
  if (recent.length) {
    io.out('recent chats:')
    recent.forEach((c, i) =>
      io.out(`  ${String(i + 1).padStart(2)}) ${c.title}  [${c.status.toLowerCase()}${c.queueLength ? `, ${c.queueLength} queued` : ''}]  ${c.updatedAt}`),
    )
  }
  for (;;) {
    rl.setPrompt(recent.length ? 'chat number, or Enter for a new chat: ' : 'no chats yet; Enter for a new chat: ')
    lines.prompt(rl)
    const answer = await lines.next()
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
    io.out(recent.length ? `${choice} is not a number from 1 to ${recent.length}` : 'there are no chats to pick; press Enter for a new one')
  }
}

async function talk(api: ChatApi, io: CliIo, rl: Interface, lines: InputLines, chat: ChatSummary): Promise<number> {
  const renderer = new ChatRenderer({ write, verbose: true })
  renderer.status = chat.status
  renderer.queued = chat.queueLength
  io.out(`chat "${chat.title}" (${chat.id}), ${chat.status.toLowerCase()}. Type a message; Ctrl-C interrupts a turn, twice when idle exits.`)
  rl.setPrompt('> ')
  let armedExit = false
  let inputEnded = false
  let finish: (code: number) => void = () => {}
  const exited = new Promise<number>((resolve) => (finish = resolve))

  const stream = openStream(
    api,
    chat,
    (item) => {
      const end = renderer.render(item)
      if (!end || renderer.busy || renderer.queued > 0) return
      // Input that ended (a pipe) leaves once the last turn it asked for is over.
      if (inputEnded) finish(0)
      else lines.prompt(rl)
    },
    (err) => {
      io.err(`cairn chat: ${err.message}`)
      finish(1)
    },
  )
  try {
    await stream.ready
  } catch (err) {
    io.err(`cairn chat: cannot stream chat ${chat.id}: ${(err as Error).message}`)
    return 1
  }

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
    lines.prompt(rl)
  })

  void (async () => {
    lines.prompt(rl)
    for (;;) {
      const line = await lines.next()
      if (line === null) {
        inputEnded = true
        if (!renderer.busy) finish(0)
        return
      }
      armedExit = false
      const text = line.trim()
      if (text === '/quit' || text === '/exit') return finish(0)
      if (!text) {
        if (!renderer.busy) lines.prompt(rl)
        continue
      }
      const wasBusy = renderer.busy
      if (!wasBusy) renderer.status = 'PENDING'
      try {
        // Sent in order: the next line waits for this one's answer.
        await api.sendMessage(chat.id, text)
      } catch (err) {
        io.err(`not sent: ${(err as Error).message}`)
        if (!wasBusy) renderer.status = chat.status
        lines.prompt(rl)
      }
    }
  })()

  try {
    return await exited
  } finally {
    stream.stop()
  }
}
