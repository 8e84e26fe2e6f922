// Keeps some chats busy through the API process while a fault is injected: new chats, and follow-up
// messages to chats that settled. Every message the API acknowledged is recorded, to be found in the
// log afterwards; a refused one (the database is away) is only counted.
import { randomBytes } from 'node:crypto'
import type { Database } from '../src/db/database.ts'
import type { Ack } from './checks.ts'
import { unsettledChats } from './checks.ts'
import type { Fleet, Served } from './fleet.ts'
import { directiveText, type Directive, type Plan } from './model.ts'

export interface LoadOptions {
  /** Plans to pick from, uniformly. */
  plans: Plan[]
  /** How many chats to keep busy. */
  busy: number
  /** At most this many chats, and this many turns per chat. */
  maxChats: number
  maxTurns?: number
  /** Share of model calls the fake answers with a fault. */
  faults?: number
  /** Bound to this workspace (plans that run commands). */
  workspaceId?: string
  /** Between looks at the chats. */
  tickMs?: number
  /** The `big` plan's answers, KiB. */
  answerKiB?: number
}

export class ChatLoad {
  readonly chats: string[] = []
  readonly acks: Ack[] = []
  refused = 0
  readonly #turns = new Map<string, number>()
  readonly #labels = new Map<string, string>()
  #stopped = false
  #loop: Promise<void> | null = null

  constructor(
    private readonly fleet: Fleet,
    private readonly api: Served,
    private readonly db: Database,
    private readonly opts: LoadOptions,
  ) {}

  start(): this {
    this.#loop = this.#run()
    return this
  }

  async stop(): Promise<void> {
    this.#stopped = true
    await this.#loop
  }

  /** The label the model's directives name this chat by. */
  labelOf(chatId: string): string | undefined {
    return this.#labels.get(chatId)
  }

  directive(label: string, plan: Plan = this.opts.plans[Math.floor(Math.random() * this.opts.plans.length)]!): Directive {
    const steps = plan === 'text' ? 1 : plan === 'daemon' ? 4 : plan === 'big' ? (this.opts.answerKiB ?? 256) : 2 + Math.floor(Math.random() * 3)
    return { chat: label, plan, steps, delayMs: plan === 'big' ? 1 : 30 + Math.floor(Math.random() * 50), faults: this.opts.faults ?? 0 }
  }

  /** Creates a chat with its first message; returns its id, or null when the API refused. */
  async createChat(d?: Directive): Promise<string | null> {
    const label = d?.chat ?? randomBytes(4).toString('hex')
    const text = directiveText(d ?? this.directive(label))
    try {
      const { createChat } = await this.fleet.gql<{ createChat: { id: string } }>(
        this.api,
        `mutation($input: CreateChatInput!) { createChat(input: $input) { id } }`,
        { input: { title: `soak ${label}`, firstMessage: text, ...(this.opts.workspaceId ? { workspaceId: this.opts.workspaceId } : {}) } },
      )
      this.chats.push(createChat.id)
      this.#labels.set(createChat.id, label)
      this.#turns.set(createChat.id, 1)
      this.acks.push({ chatId: createChat.id, nonce: nonceOf(text) })
      return createChat.id
    } catch {
      this.refused++
      return null
    }
  }

  /** Sends one more message (queued when the chat is busy); true when the API acknowledged it. */
  async sendMessage(chatId: string, plan?: Plan): Promise<boolean> {
    const text = directiveText(this.directive(this.#labels.get(chatId)!, plan))
    try {
      await this.fleet.gql(this.api, `mutation($input: SendMessageInput!) { sendMessage(input: $input) { messageId } }`, { input: { chatId, text } })
      this.#turns.set(chatId, (this.#turns.get(chatId) ?? 0) + 1)
      this.acks.push({ chatId, nonce: nonceOf(text) })
      return true
    } catch {
      this.refused++
      return false
    }
  }

  async #run(): Promise<void> {
    const maxTurns = this.opts.maxTurns ?? 4
    while (!this.#stopped) {
      try {
        const busy = new Set(await unsettledChats(this.db, this.chats))
        let want = this.opts.busy - busy.size
        for (const chatId of this.chats) {
          if (want <= 0 || this.#stopped) break
          if (busy.has(chatId) || (this.#turns.get(chatId) ?? 0) >= maxTurns) continue
          if (await this.sendMessage(chatId)) want--
        }
        while (want-- > 0 && this.chats.length < this.opts.maxChats && !this.#stopped) await this.createChat()
        // Now and then a message to a busy chat: it queues behind the running turn.
        const running = [...busy]
        if (running.length && Math.random() < 0.2) {
          const chatId = running[Math.floor(Math.random() * running.length)]!
          if ((this.#turns.get(chatId) ?? 0) < maxTurns) await this.sendMessage(chatId)
        }
      } catch {
        // the database is away; try again
      }
      await new Promise((r) => setTimeout(r, this.opts.tickMs ?? 400))
    }
  }
}

function nonceOf(text: string): string {
  return /msg=(\S+?)\]/.exec(text)![1]!
}
