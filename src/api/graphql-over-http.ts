/**
 * What the GraphQL-over-HTTP spec asks of `/graphql` beyond what mercurius does by itself:
 * request parameters of the wrong type are refused with 400, a `null` `extensions` is accepted,
 * and the response media type is negotiated from `Accept`:
 *
 * | Accept | content type | a request that fails before execution (parse, validation, variables) |
 * |---|---|---|
 * | `application/graphql-response+json` preferred | `application/graphql-response+json` | 4xx, no `data` entry |
 * | `application/json` | `application/json` | 200 with `errors` and no `data` entry |
 * | none or only wildcards (curl, fetch's default, older clients) | `application/json` | as before: 400, `data: null` |
 *
 * A request that reached execution answers 200 in every case, with `data` (possibly null).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { GraphQLError } from 'graphql'
import mercurius from 'mercurius'

export const GRAPHQL_RESPONSE_JSON = 'application/graphql-response+json'

export type GraphqlMediaType = 'graphql-response+json' | 'json' | 'legacy-json'

/** The media type the client asked for, by the `Accept` header's q-values (ties prefer graphql-response+json). */
export function negotiateGraphqlMediaType(accept: string | undefined): GraphqlMediaType {
  if (!accept) return 'legacy-json'
  let responseQ = -1
  let jsonQ = -1
  for (const range of accept.split(',')) {
    const [type, ...params] = range.split(';').map((s) => s.trim().toLowerCase())
    const q = Number(params.find((p) => p.startsWith('q='))?.slice(2) ?? 1)
    const quality = Number.isFinite(q) ? q : 1
    if (type === GRAPHQL_RESPONSE_JSON) responseQ = Math.max(responseQ, quality)
    else if (type === 'application/json') jsonQ = Math.max(jsonQ, quality)
  }
  if (responseQ > 0 && responseQ >= jsonQ) return 'graphql-response+json'
  if (jsonQ > 0) return 'json'
  return 'legacy-json'
}

const mediaTypeOf = (request: FastifyRequest) => negotiateGraphqlMediaType(request.headers.accept)

/** A parameter check that fails answers 400 at once, in the negotiated media type. */
function badRequest(request: FastifyRequest, reply: FastifyReply, message: string) {
  if (mediaTypeOf(request) === 'graphql-response+json') reply.type(`${GRAPHQL_RESPONSE_JSON}; charset=utf-8`)
  return reply.code(400).send({ errors: [{ message, extensions: { code: 'BAD_REQUEST' } }] })
}

const isPlainObject = (value: unknown) => typeof value === 'object' && value !== null && !Array.isArray(value)

/** The spec's checks on a request's parameters; null when they hold. */
function parameterError(params: Record<string, unknown>): string | null {
  if (params.query !== undefined && typeof params.query !== 'string') return 'the query parameter must be a string'
  if (params.operationName != null && typeof params.operationName !== 'string') return 'the operationName parameter must be a string or null'
  if (params.variables != null && !isPlainObject(params.variables)) return 'the variables parameter must be a map (a JSON object) or null'
  if (params.extensions != null && !isPlainObject(params.extensions)) return 'the extensions parameter must be a map (a JSON object) or null'
  return null
}

/**
 * Adds the checks and the media type negotiation to the routes of `path`. Call it on the
 * instance mercurius is registered on, before registering it.
 */
export function followGraphqlOverHttp(app: FastifyInstance, path: string) {
  app.addHook('preValidation', async (request, reply) => {
    if (request.routeOptions.url !== path || request.method !== 'POST') return
    const body = request.body
    if (!isPlainObject(body)) return badRequest(request, reply, 'the request body must be a JSON object with a query')
    const params = body as Record<string, unknown>
    const error = parameterError(params)
    if (error) return badRequest(request, reply, error)
    // mercurius's body schema takes an object only; null means "none" in the spec.
    for (const key of ['extensions', 'variables', 'operationName'] as const) if (params[key] === null) delete params[key]
  })

  app.addHook('onSend', async (request, reply, payload) => {
    if (request.routeOptions.url !== path || (request.method !== 'POST' && request.method !== 'GET')) return payload
    if (mediaTypeOf(request) !== 'graphql-response+json') return payload
    const type = String(reply.getHeader('content-type') ?? '')
    if (type.startsWith('application/json')) reply.type(`${GRAPHQL_RESPONSE_JSON}; charset=utf-8`)
    return payload
  })
}

/** Whether mercurius refused the request before executing it (no `data` entry then). */
const failedBeforeExecution = (execution: { data?: unknown }) => !('data' in execution)

/** Parse, validation and variable coercion failures: GraphQL's request errors. */
function isGraphqlRequestError(errors: readonly GraphQLError[]): boolean {
  const original = errors[0]?.originalError as { code?: string; errors?: unknown[] } | undefined
  return (
    errors.length === 1 &&
    original?.code === 'MER_ERR_GQL_VALIDATION' &&
    Array.isArray(original.errors) &&
    // By name: mercurius (CommonJS) and this module (ESM) load different copies of graphql's classes.
    original.errors.every((e) => (e as Error)?.name === 'GraphQLError')
  )
}

type Execution = { data?: unknown; errors: readonly GraphQLError[]; statusCode?: number }
type ErrorContext = { reply?: FastifyReply } & Record<string, unknown>

/** mercurius's error formatter with the status codes and `data` entry of the negotiated media type. */
export function graphqlOverHttpErrorFormatter(execution: Execution, context: ErrorContext) {
  const formatted = mercurius.defaultErrorFormatter(execution as never, context as never) as {
    statusCode: number
    response: { data?: unknown; errors: unknown[] }
  }
  const request = context.reply?.request
  if (!request || !failedBeforeExecution(execution)) return formatted
  const { data: _data, ...withoutData } = formatted.response
  switch (mediaTypeOf(request)) {
    case 'legacy-json':
      return formatted
    case 'json':
      return { statusCode: isGraphqlRequestError(execution.errors) ? 200 : formatted.statusCode, response: withoutData }
    case 'graphql-response+json':
      return { statusCode: formatted.statusCode >= 400 ? formatted.statusCode : 400, response: withoutData }
  }
}
