// Admin MCP servers: settings on the `config` stream, secrets (bearer token, header values) encrypted
// in the secret store. The log and the API carry only fingerprints.
import { decideConfig } from '../../commands/config/decide.ts'
import { CommandError, invalidInput } from '../../commands/errors.ts'
import type { ConfigService } from '../config/service.ts'
import { secretFingerprint, type SecretStore } from '../config/secrets.ts'
import type { McpServerAuth, McpServerSettings } from '../events/config.ts'
import type { EventMetadata } from '../eventstore/types.ts'
import type { KnownSecret } from '../secrets/redact.ts'

export interface McpServerInput {
  id: string
  url: string
  transport: string
  auth: { kind: string; token?: string | null; headers?: { name: string; value?: string | null }[] | null }
  availability: string
  allowTools: string[]
  denyTools: string[]
  allowInPlanMode: boolean
  allowInSubAgents: boolean
}

const secretPrefix = (serverId: string) => `mcp:${serverId}:`
const tokenSecret = (serverId: string) => `${secretPrefix(serverId)}bearer`
const headerSecret = (serverId: string, header: string) => `${secretPrefix(serverId)}header:${header.toLowerCase()}`

export class McpServerAdmin {
  /** Decrypted values by secret name, each with the fingerprint it was read for. */
  readonly #plain = new Map<string, { fingerprint: string; value: string | null }>()

  constructor(
    private readonly config: ConfigService,
    private readonly secrets: SecretStore,
  ) {}

  /**
   * Validates the settings with the config decider before any secret is stored (bad input stores
   * nothing and appends nothing), then stores the secrets and records their fingerprints.
   * A token or header value left out keeps the stored one.
   */
  async configure(input: McpServerInput, metadata: EventMetadata): Promise<McpServerSettings> {
    const state = await this.config.current()
    const previous = state.mcpServers[input.id]
    const writes: { name: string; value: string }[] = []
    let auth: McpServerAuth
    switch (input.auth.kind) {
      case 'none':
        auth = { kind: 'none' }
        break
      case 'bearer': {
        const token = input.auth.token?.trim()
        if (token) {
          auth = { kind: 'bearer', tokenFingerprint: secretFingerprint(token) }
          writes.push({ name: tokenSecret(input.id), value: token })
        } else if (previous?.auth.kind === 'bearer') auth = previous.auth
        else throw invalidInput('auth BEARER needs a token')
        break
      }
      case 'headers': {
        const kept = previous?.auth.kind === 'headers' ? previous.auth.headers : []
        const headers = (input.auth.headers ?? []).map((h) => {
          if (h.value != null && h.value !== '') {
            writes.push({ name: headerSecret(input.id, h.name), value: h.value })
            return { name: h.name, fingerprint: secretFingerprint(h.value) }
          }
          const old = kept.find((k) => k.name.toLowerCase() === h.name.toLowerCase())
          if (!old) throw invalidInput(`header ${h.name} needs a value`)
          return { name: h.name, fingerprint: old.fingerprint }
        })
        auth = { kind: 'headers', headers }
        break
      }
      default:
        throw invalidInput('auth kind must be one of NONE, BEARER, HEADERS')
    }
    const settings: McpServerSettings = {
      serverId: input.id,
      url: input.url,
      transport: input.transport as McpServerSettings['transport'],
      auth,
      availability: input.availability as McpServerSettings['availability'],
      allowTools: [...new Set(input.allowTools)],
      denyTools: [...new Set(input.denyTools)],
      allowInPlanMode: input.allowInPlanMode,
      allowInSubAgents: input.allowInSubAgents,
    }
    const command = { type: 'ConfigureMcpServer' as const, settings }
    decideConfig(command, state) // throws on bad settings: nothing stored yet
    for (const w of writes) await this.secrets.put(w.name, w.value)
    const after = await this.config.execute(command, metadata)
    return after.mcpServers[input.id]!
  }

  async remove(serverId: string, metadata: EventMetadata): Promise<void> {
    if (!(await this.config.current()).mcpServers[serverId]) throw new CommandError('NOT_FOUND', `MCP server ${serverId} is not configured`)
    await this.config.execute({ type: 'RemoveMcpServer', serverId }, metadata)
    await this.secrets.removeByPrefix(secretPrefix(serverId))
  }

  /** Every MCP token and header value in plain text, for redaction (src/secrets/); each decrypted once per fingerprint. */
  async knownSecrets(): Promise<KnownSecret[]> {
    const out: KnownSecret[] = []
    for (const server of Object.values((await this.config.current()).mcpServers)) {
      const auth = server.auth
      const wanted =
        auth.kind === 'bearer'
          ? [{ name: tokenSecret(server.serverId), fingerprint: auth.tokenFingerprint }]
          : auth.kind === 'headers'
            ? auth.headers.map((h) => ({ name: headerSecret(server.serverId, h.name), fingerprint: h.fingerprint }))
            : []
      for (const w of wanted) {
        let plain = this.#plain.get(w.name)
        if (plain?.fingerprint !== w.fingerprint) {
          plain = { fingerprint: w.fingerprint, value: await this.secrets.get(w.name) }
          this.#plain.set(w.name, plain)
        }
        if (plain.value) out.push({ kind: 'mcp_secret', value: plain.value })
      }
    }
    return out
  }

  /** The HTTP headers that authenticate to the server, decrypted (only when a client connects). */
  async headersFor(settings: McpServerSettings): Promise<Record<string, string>> {
    const auth = settings.auth
    if (auth.kind === 'bearer') {
      const token = await this.secrets.get(tokenSecret(settings.serverId))
      if (!token) throw new Error('its bearer token is missing from the secret store; set it again')
      return { Authorization: `Bearer ${token}` }
    }
    if (auth.kind === 'headers') {
      const headers: Record<string, string> = {}
      for (const h of auth.headers) {
        const value = await this.secrets.get(headerSecret(settings.serverId, h.name))
        if (value === null) throw new Error(`the value of its header ${h.name} is missing from the secret store; set it again`)
        headers[h.name] = value
      }
      return headers
    }
    return {}
  }
}
