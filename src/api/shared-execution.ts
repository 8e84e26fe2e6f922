/**
 * One execution per distinct selection. graphql-js executes a subscription's selection for every
 * event once per subscriber, and a server then serializes each result again: with 1,000 subscribers
 * on one chat, one event cost 1,000 executions and 1,000 `JSON.stringify`s.
 *
 * Here each subscription keeps its own source — its permission check at subscribe time, its bounded
 * buffer, its catch-up — but what the source yields is executed once per payload and *selection
 * key*, serialized once, and that JSON text is written to every socket that wants it: the
 * subscription writes its own `next` messages and hands the protocol server (graphql-ws.ts) an
 * iterator that yields nothing and ends when the source ends (the server then sends `complete`) or
 * fails (`error`). A write waits for the socket, so a client that stops reading stops draining its
 * buffer and is cut with 4008 (src/live/bounded.ts).
 *
 * The selection key: the document with the root field's arguments left out (every Subscription
 * field resolves to the payload itself — graphql-ws.ts — so its arguments choose which payloads come,
 * not what a payload becomes), the operation's name, the values of the variables the rest of it
 * uses, and — only when the selection reaches a resolver of ours, which may read the context
 * (`Chat.children` filters by the principal) — the principal. Without one the result is a function
 * of the payload and the selection alone, so subscribers with different principals share it: each
 * was allowed to receive the payload by its own source. Payloads are objects shared by every
 * subscriber they go to (the chat tail's event views, one view per ephemeral item, one change per
 * chat update), and the results are kept on them (a WeakMap), so they go when the payload goes.
 */
import { createRequire } from 'node:module'
import type { DocumentNode, ExecutionResult, FieldNode, GraphQLSchema, OperationDefinitionNode, SelectionSetNode } from 'graphql'
import type { WebSocket } from 'ws'
import type { BoundedIterator, Deliver } from '../live/bounded.ts'

// mercurius loads graphql's CommonJS build; the schema it built must be executed by the same copy.
const graphql = createRequire(import.meta.url)('graphql') as typeof import('graphql')
const { defaultFieldResolver, execute, getNamedType, isAbstractType, isObjectType, Kind, print, TypeInfo, visit, visitWithTypeInfo } = graphql

/** Process-wide counts, for tests: executions run, and `next` messages written from them. */
export const sharedExecutionStats = { executions: 0, deliveries: 0 }

/** One subscription as the protocol server parsed it. */
export interface SubscriptionRequest {
  schema: GraphQLSchema
  document: DocumentNode
  operation: OperationDefinitionNode
  /** As the client sent them. */
  variables: Record<string, unknown>
  /** The GraphQL context the selection's resolvers get. */
  context: unknown
  /** Who subscribed: part of the key when the selection reaches a resolver that may read the context. */
  principal: unknown
  /** A result with errors, as the server sends it. */
  formatErrors(result: ExecutionResult): unknown
}

interface Selection extends SubscriptionRequest {
  key: string
}

const resultsByPayload = new WeakMap<object, Map<string, string | Promise<string>>>()

/**
 * The iterator the protocol server gets for a subscription: its first `next()` writes every item of
 * `source` to the socket as `next` message `id`, one write at a time, and settles when the source
 * ends or fails; `return()` stops the source. A bounded source (src/live/bounded.ts) is drained
 * through callbacks, so an item the chat tail pushes to an idle subscriber is written inside the
 * tail's loop, as a plain broadcast would; any other source is iterated.
 */
export function writeShared(source: AsyncIterator<unknown>, socket: WebSocket, id: string, request: SubscriptionRequest): AsyncIterableIterator<never> {
  return new SocketWriter(source, socket, `{"id":${JSON.stringify(id)},"type":"next","payload":`, { ...request, key: selectionKey(request) })
}

const DONE: IteratorResult<never> = { done: true, value: undefined }

/** A class, not closures: one per subscriber, so its size is per-subscriber memory. */
class SocketWriter implements AsyncIterableIterator<never> {
  #writing: Promise<IteratorResult<never>> | null = null

  constructor(
    private readonly source: AsyncIterator<unknown>,
    private readonly socket: WebSocket,
    private readonly prefix: string,
    private readonly selection: Selection,
  ) {}

  next(): Promise<IteratorResult<never>> {
    if (!this.#writing) {
      const deliver: Deliver<unknown> = (item, done) => this.#deliver(item, done)
      this.#writing = (isDrainable(this.source) ? this.source.drain(deliver) : iterate(this.source, deliver)).then(() => DONE)
    }
    return this.#writing
  }

  async return(): Promise<IteratorResult<never>> {
    await this.source.return?.()
    return DONE
  }

  [Symbol.asyncIterator]() {
    return this
  }

  #deliver(item: unknown, done: (err?: unknown) => void) {
    let json: string | Promise<string>
    try {
      json = resultJson(item, this.selection)
    } catch (err) {
      return done(err) // this subscriber's failure, not the fan-out's that called us
    }
    if (typeof json === 'string') this.#write(json, done)
    else json.then((j) => this.#write(j, done), done)
  }

  #write(json: string, done: () => void) {
    this.socket.send(this.prefix + json + '}', () => done())
    sharedExecutionStats.deliveries++
  }
}

function isDrainable(source: AsyncIterator<unknown>): source is BoundedIterator<unknown> {
  return typeof (source as Partial<BoundedIterator<unknown>>).drain === 'function'
}

async function iterate(source: AsyncIterator<unknown>, deliver: Deliver<unknown>): Promise<void> {
  for (;;) {
    const item = await source.next()
    if (item.done) return
    await new Promise<void>((resolve, reject) => deliver(item.value, (err) => (err ? reject(err) : resolve())))
  }
}

/** What a key needs of an operation, worked out once per parsed document (graphql-ws.ts shares them among subscribers). */
interface Analysis {
  /** The document printed without the root field's arguments, and the operation's name. */
  text: string
  /** The variables used outside the root field's arguments. */
  variables: string[]
  readsContext: boolean
}

const analyses = new WeakMap<OperationDefinitionNode, Analysis>()

function selectionKey(r: SubscriptionRequest): string {
  let analysis = analyses.get(r.operation)
  if (!analysis) analyses.set(r.operation, (analysis = analyse(r)))
  const values = analysis.variables.map((name) => `${name}=${name in r.variables ? JSON.stringify(r.variables[name]) : '-'}`).join('&')
  const principal = analysis.readsContext ? JSON.stringify(r.principal ?? null) : ''
  // The common case (variables only in the root field's arguments, no resolver of ours) is the shared text itself.
  return values || principal ? `${analysis.text}\n${values}\n${principal}` : analysis.text
}

function analyse(r: SubscriptionRequest): Analysis {
  const rootFields = new Set(rootFieldsOf(r.operation.selectionSet, r.document))
  const withoutRootArguments = visit(r.document, { Field: (node) => (rootFields.has(node) ? { ...node, arguments: [] } : undefined) })
  const used = new Set<string>()
  visit(withoutRootArguments, { VariableDefinition: () => false, Variable: (node) => void used.add(node.name.value) })
  return { text: `${r.operation.name?.value ?? ''}\n${print(withoutRootArguments)}`, variables: [...used].sort(), readsContext: readsContext(r.schema, r.document) }
}

/** The operation's top-level fields, through fragments: every one of them resolves to the payload. */
function rootFieldsOf(set: SelectionSetNode, document: DocumentNode, seen = new Set<string>()): FieldNode[] {
  return set.selections.flatMap((s) => {
    if (s.kind === Kind.FIELD) return [s]
    if (s.kind === Kind.INLINE_FRAGMENT) return rootFieldsOf(s.selectionSet, document, seen)
    if (seen.has(s.name.value)) return []
    seen.add(s.name.value)
    const fragment = document.definitions.find((d) => d.kind === Kind.FRAGMENT_DEFINITION && d.name.value === s.name.value)
    return fragment?.kind === Kind.FRAGMENT_DEFINITION ? rootFieldsOf(fragment.selectionSet, document, seen) : []
  })
}

/**
 * Whether executing the selection may call a resolver of ours (anything but graphql's default
 * property read) or a type resolver: those get the context, so the result may depend on who asks.
 */
function readsContext(schema: GraphQLSchema, document: DocumentNode): boolean {
  const subscriptionType = schema.getSubscriptionType()
  const typeInfo = new TypeInfo(schema)
  let reads = false
  const checkType = () => {
    const type = getNamedType(typeInfo.getType())
    if (type && ((isAbstractType(type) && type.resolveType) || (isObjectType(type) && type.isTypeOf))) reads = true
  }
  visit(
    document,
    visitWithTypeInfo(typeInfo, {
      Field() {
        // The root field resolves to the payload; the fields under it are what the selection runs.
        const def = typeInfo.getFieldDef()
        if (typeInfo.getParentType() !== subscriptionType && def?.resolve && def.resolve !== defaultFieldResolver) reads = true
        checkType()
      },
      InlineFragment: checkType,
      FragmentDefinition: checkType,
    }),
  )
  return reads
}

/** The payload's result for this selection as JSON: executed by the first subscriber that needs it, shared with the rest. */
function resultJson(payload: unknown, selection: Selection): string | Promise<string> {
  if (payload === null || typeof payload !== 'object') return executeToJson(payload, selection)
  let byKey = resultsByPayload.get(payload)
  if (!byKey) resultsByPayload.set(payload, (byKey = new Map()))
  let json = byKey.get(selection.key)
  if (json === undefined) byKey.set(selection.key, (json = executeToJson(payload, selection)))
  return json
}

function executeToJson(payload: unknown, s: Selection): string | Promise<string> {
  sharedExecutionStats.executions++
  const result = execute({ schema: s.schema, document: s.document, operationName: s.operation.name?.value, rootValue: payload, contextValue: s.context, variableValues: s.variables })
  const serialize = (r: ExecutionResult) => JSON.stringify(r.errors?.length ? s.formatErrors(r) : r)
  return result instanceof Promise ? result.then(serialize) : serialize(result)
}
