import { randomUUID } from 'node:crypto'
import { configDecider, type ConfigCommand, type ConfigState } from '../../commands/config/decide.ts'
import { handleCommand } from '../../commands/handler.ts'
import { CommandError } from '../../commands/errors.ts'
import type { EventMetadata, EventStore, StoredEvent, Subscription } from '../eventstore/types.ts'
import { StreamNotFoundError } from '../eventstore/types.ts'
import { CONFIG_STREAM, type ConfigEvent, type ModelSettings, type ProviderSettings } from '../events/config.ts'
import { createProvider } from '../providers/index.ts'
import type { ModelProvider, ProviderKind } from '../providers/types.ts'
import { SecretStore } from './secrets.ts'
import type { KnownSecret } from '../secrets/redact.ts'

export const DEFAULT_SYSTEM_PROMPT = `You are Cairn, a coding agent. You do development work for the user in their workspace through the tools you are given.
Work in small, verifiable steps: read before you edit, run the project's tests after a change, and report what you did and what you found.`

export interface ResolvedModel {
  model: ModelSettings
  provider: ProviderSettings
  client: ModelProvider
}

const secretName = (providerId: string) => `provider:${providerId}:api_key`

/**
 * Reads and changes the `config` stream. The folded state is cached: after the first read a
 * subscription to the stream folds every change in as it is appended (on any process), so a
 * model step reads no configuration from the database.
 */
export class ConfigService {
  #state: ConfigState = configDecider.initialState()
  #revision = -1n
  #loading: Promise<void> | null = null
  #watch: Subscription<StoredEvent> | null = null
  #clients = new Map<string, { fingerprint: string | null; settingsKey: string; client: ModelProvider }>()
  #plainKeys = new Map<string, { fingerprint: string; value: string | null }>()

  constructor(
    private readonly store: EventStore,
    private readonly secrets: SecretStore,
    private readonly options: { streamSilenceMs?: number } = {},
  ) {}

  async current(): Promise<ConfigState> {
    this.#loading ??= this.#catchUp().then(() => this.#follow(), (err) => {
      this.#loading = null
      throw err
    })
    await this.#loading
    return this.#state
  }

  /** Stops following the config stream. */
  async close(): Promise<void> {
    await this.#watch?.close()
  }

  async #catchUp(): Promise<void> {
    try {
      this.#fold(await this.store.readStream(CONFIG_STREAM, { fromRevision: this.#revision + 1n }))
    } catch (err) {
      if (!(err instanceof StreamNotFoundError)) throw err
    }
  }

  #fold(events: readonly StoredEvent[]): void {
    for (const e of events) {
      if (e.revision <= this.#revision) continue
      this.#state = configDecider.evolve(this.#state, e as unknown as ConfigEvent)
      this.#revision = e.revision
    }
  }

  #follow(): void {
    const watch = (this.#watch = this.store.subscribeToStream(CONFIG_STREAM, { fromRevision: this.#revision + 1n }))
    void (async () => {
      for await (const event of watch) this.#fold([event])
    })().catch(() => {
      // The store closed or failed: read afresh on the next use.
      if (this.#watch === watch) this.#loading = null
    })
  }

  async execute(command: ConfigCommand, metadata: EventMetadata): Promise<ConfigState> {
    const outcome = await handleCommand(this.store, CONFIG_STREAM, configDecider, command, { commandId: randomUUID(), metadata })
    // This process's answer shows its own change at once; the watch skips what is folded here.
    await this.current()
    if (outcome.result) await this.#catchUp()
    return this.#state
  }

  /** Stores the key encrypted and records only its fingerprint in the log. */
  async setProviderApiKey(providerId: string, apiKey: string, metadata: EventMetadata): Promise<void> {
    const state = await this.current()
    if (!state.providers[providerId]) throw new CommandError('NOT_FOUND', `provider ${providerId} is not configured`)
    if (!apiKey.trim()) throw new CommandError('INVALID_INPUT', 'API key must not be empty')
    const fingerprint = await this.secrets.put(secretName(providerId), apiKey.trim())
    await this.execute({ type: 'RecordProviderApiKey', providerId, fingerprint }, metadata)
  }

  /**
   * The provider keys in plain text, for redaction (src/secrets/): from the config as last read
   * (read once if never), each decrypted once per fingerprint.
   */
  async knownSecrets(): Promise<KnownSecret[]> {
    const state = this.#revision < 0n ? await this.current() : this.#state
    const out: KnownSecret[] = []
    for (const p of Object.values(state.providers)) {
      if (!p.keyFingerprint) continue
      let plain = this.#plainKeys.get(p.providerId)
      if (plain?.fingerprint !== p.keyFingerprint) {
        plain = { fingerprint: p.keyFingerprint, value: await this.secrets.get(secretName(p.providerId)) }
        this.#plainKeys.set(p.providerId, plain)
      }
      if (plain.value) out.push({ kind: 'provider_key', value: plain.value })
    }
    return out
  }

  async systemPrompt(state?: ConfigState): Promise<string> {
    return (state ?? (await this.current())).systemPrompt ?? DEFAULT_SYSTEM_PROMPT
  }

  /** The chat's model, or the default one; throws a CommandError a user can act on. */
  async resolveModel(modelId: string | null): Promise<ResolvedModel> {
    const state = await this.current()
    const model = modelId ? state.models[modelId] : Object.values(state.models).find((m) => m.isDefault && m.enabled)
    if (!model)
      throw new CommandError(
        'NOT_FOUND',
        modelId ? `model ${modelId} is not configured; pick one of the enabled models` : 'no default model is configured; an admin must add a provider and a model',
      )
    if (!model.enabled) throw new CommandError('FORBIDDEN', `model ${model.modelId} is disabled; pick another model`)
    const provider = state.providers[model.providerId]
    if (!provider) throw new CommandError('NOT_FOUND', `model ${model.modelId} uses provider ${model.providerId}, which is not configured`)
    return { model, provider, client: await this.#client(provider, state.providers[provider.providerId]!.keyFingerprint, model) }
  }

  /**
   * The model for one of the runner's jobs: the admin's override (setModelOverrides), else the
   * chat's model. An override whose model was since disabled or removed falls back to the chat's.
   */
  async resolveModelFor(job: keyof ConfigState['modelOverrides'], chatModelId: string | null): Promise<ResolvedModel> {
    const override = (await this.current()).modelOverrides[job]
    if (override) {
      try {
        return await this.resolveModel(override)
      } catch (err) {
        if (!(err instanceof CommandError)) throw err
      }
    }
    return this.resolveModel(chatModelId)
  }

  async #client(provider: ProviderSettings, fingerprint: string | null, model: ModelSettings): Promise<ModelProvider> {
    const settingsKey = JSON.stringify([provider, model.api])
    const key = `${provider.providerId}:${model.api ?? ''}`
    const cached = this.#clients.get(key)
    if (cached && cached.fingerprint === fingerprint && cached.settingsKey === settingsKey) return cached.client
    const apiKey = fingerprint ? ((await this.secrets.get(secretName(provider.providerId))) ?? undefined) : undefined
    const client = createProvider({
      kind: provider.kind,
      apiKey,
      baseUrl: provider.baseUrl ?? undefined,
      apiVersion: provider.apiVersion ?? undefined,
      deployment: provider.deployment ?? undefined,
      region: provider.region ?? undefined,
      api: model.api ?? undefined,
      streamSilenceMs: this.options.streamSilenceMs,
    })
    this.#clients.set(key, { fingerprint, settingsKey, client })
    return client
  }
}

interface QuickStart {
  env: string
  providerId: string
  kind: ProviderKind
  modelName: string
  contextWindow: number
  pricing: ModelSettings['pricing']
}

const QUICK_STARTS: QuickStart[] = [
  { env: 'ANTHROPIC_API_KEY', providerId: 'anthropic', kind: 'anthropic', modelName: 'claude-sonnet-4-5', contextWindow: 200_000, pricing: { input: 3, output: 15, cacheRead: 0.3, cacheWrite: 3.75 } },
  { env: 'OPENAI_API_KEY', providerId: 'openai', kind: 'openai-responses', modelName: 'gpt-5', contextWindow: 400_000, pricing: { input: 1.25, output: 10, cacheRead: 0.125, cacheWrite: 0 } },
  { env: 'GOOGLE_API_KEY', providerId: 'google', kind: 'google', modelName: 'gemini-2.5-pro', contextWindow: 1_000_000, pricing: { input: 1.25, output: 10, cacheRead: 0.31, cacheWrite: 0 } },
]

type QuickStartFound = QuickStart & { baseUrl: string | null; apiKey: string | undefined }

/**
 * The providers the environment names, read the way the official SDKs read it: OPENAI_API_KEY
 * and OPENAI_BASE_URL together are one OpenAI-compatible endpoint at that URL with that key
 * (a gateway, a proxy, a local server), never the public endpoint beside it.
 */
export function quickStartsFrom(env: NodeJS.ProcessEnv): QuickStartFound[] {
  const starts: QuickStartFound[] = QUICK_STARTS.filter((q) => env[q.env] && !(q.env === 'OPENAI_API_KEY' && env.OPENAI_BASE_URL)).map((q) => ({
    ...q,
    baseUrl: null,
    apiKey: env[q.env],
  }))
  if (env.OPENAI_BASE_URL)
    starts.push({
      env: env.OPENAI_API_KEY ? 'OPENAI_BASE_URL and OPENAI_API_KEY' : 'OPENAI_BASE_URL',
      providerId: 'openai-compatible',
      kind: 'openai-compatible',
      modelName: env.OPENAI_MODEL ?? 'default',
      contextWindow: 128_000,
      pricing: { input: 0, output: 0, cacheRead: 0, cacheWrite: 0 },
      baseUrl: env.OPENAI_BASE_URL,
      apiKey: env.OPENAI_API_KEY,
    })
  return starts
}

/**
 * Quick start: a provider key (or OPENAI_BASE_URL) in the environment configures a provider
 * and a default model for it, unless an admin already configured that provider.
 */
export async function configureFromEnvironment(config: ConfigService, env: NodeJS.ProcessEnv, log: (line: string) => void): Promise<void> {
  const metadata: EventMetadata = { actor: { kind: 'system', id: 'quick-start' } }
  const state = await config.current()
  const hasDefault = Object.values(state.models).some((m) => m.isDefault && m.enabled)
  const starts = quickStartsFrom(env)
  let madeDefault = hasDefault
  for (const q of starts) {
    if (state.providers[q.providerId]) continue
    await config.execute(
      {
        type: 'ConfigureProvider',
        settings: { providerId: q.providerId, kind: q.kind, displayName: q.providerId, baseUrl: q.baseUrl, apiVersion: null, deployment: null, region: null },
      },
      metadata,
    )
    if (q.apiKey) await config.setProviderApiKey(q.providerId, q.apiKey, metadata)
    await config.execute(
      {
        type: 'ConfigureModel',
        settings: {
          modelId: q.modelName,
          providerId: q.providerId,
          modelName: q.modelName,
          displayName: q.modelName,
          enabled: true,
          isDefault: !madeDefault,
          contextWindow: q.contextWindow,
          compactionThresholdPercent: 70,
          maxOutputTokens: 16_000,
          pricing: q.pricing,
          api: null,
        },
      },
      metadata,
    )
    madeDefault = true
    log(`configured provider ${q.providerId} and model ${q.modelName} from ${q.env}`)
  }
}
