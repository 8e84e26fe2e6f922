/**
 * A fake EventStoreDB / KurrentDB node for tests that the real `@eventstore/db-client` reaches over
 * a socket: gRPC on 127.0.0.1, insecure (`esdb://127.0.0.1:PORT?tls=false`, a single node: the
 * client asks no gossip). The services and messages are the client package's own generated code
 * (built from the server's .proto files), served with the `@grpc/grpc-js` the client itself loads.
 *
 * What a node answers for the calls the client makes for our adapter:
 * - ServerFeatures.GetSupportedMethods as a 24.x node lists them, so the client appends through
 *   BatchAppend; with `{ serverFeatures: false }` it answers UNIMPLEMENTED like an older node and the
 *   client falls back to the unary Append;
 * - Append and BatchAppend with each expected-revision kind; a conflict is answered as a node does:
 *   `AppendResp.wrong_expected_version` (both field generations), or a google.rpc.Status
 *   ALREADY_EXISTS packing an `event_store.client.WrongExpectedVersion`; too big an append is
 *   refused with the node's maximum-append-size error;
 * - Read of one stream (forwards or backwards, from start, end or a revision, a count; a stream
 *   with no events answers a `stream_not_found` message), of `$all` (forwards from a position
 *   includes the event at it; backwards reads what is before it), and subscriptions to a stream or
 *   to `$all` with a server-side stream-name or event-type filter: a confirmation, the stored
 *   events after the given revision or position, `caught_up`, then live events.
 * Not served: Delete/Tombstone, gossip, persistent subscriptions, links, the periodic checkpoints
 * of filtered `$all` subscriptions (the adapter passes no checkpoint callback), authentication
 * (the client sends no credentials in insecure mode).
 */
import { createRequire } from 'node:module'
import { randomUUID } from 'node:crypto'
import type * as GrpcJs from '@grpc/grpc-js'
import type * as StreamsPb from '@eventstore/db-client/generated/streams_pb.js'
import type * as StreamsGrpc from '@eventstore/db-client/generated/streams_grpc_pb.js'
import type * as SharedPb from '@eventstore/db-client/generated/shared_pb.js'
import type * as StatusPb from '@eventstore/db-client/generated/status_pb.js'
import type * as CodePb from '@eventstore/db-client/generated/code_pb.js'
import type * as FeaturesPb from '@eventstore/db-client/generated/serverfeatures_pb.js'
import type * as FeaturesGrpc from '@eventstore/db-client/generated/serverfeatures_grpc_pb.js'
import type * as AnyPb from 'google-protobuf/google/protobuf/any_pb.js'
import type * as EmptyPb from 'google-protobuf/google/protobuf/empty_pb.js'
import { FakeLog, passes, type AppendOutcome, type ExpectedRevision, type Filter, type LogRecord, type ProposedEvent } from './log.ts'

// Everything is loaded from the client package's own folder, so both ends share one grpc-js.
const fromClient = createRequire(createRequire(import.meta.url).resolve('@eventstore/db-client'))
const grpc = fromClient('@grpc/grpc-js') as typeof GrpcJs
const streamsPb = fromClient('../generated/streams_pb.js') as typeof StreamsPb
const { StreamsService } = fromClient('../generated/streams_grpc_pb.js') as typeof StreamsGrpc
const sharedPb = fromClient('../generated/shared_pb.js') as typeof SharedPb
const statusPb = fromClient('../generated/status_pb.js') as typeof StatusPb
const { Code } = fromClient('../generated/code_pb.js') as typeof CodePb
const featuresPb = fromClient('../generated/serverfeatures_pb.js') as typeof FeaturesPb
const { ServerFeaturesService } = fromClient('../generated/serverfeatures_grpc_pb.js') as typeof FeaturesGrpc
const { Any } = fromClient('google-protobuf/google/protobuf/any_pb.js') as typeof AnyPb
const { Empty: GoogleEmpty } = fromClient('google-protobuf/google/protobuf/empty_pb.js') as typeof EmptyPb

const { ReadResp, AppendResp, BatchAppendResp } = streamsPb
type ReadCall = GrpcJs.ServerWritableStream<StreamsPb.ReadReq, StreamsPb.ReadResp>
type ReadOptions = StreamsPb.ReadReq.Options

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i
const SERVER_VERSION = '24.10.0'
/** What a 24.x node lists for the streams service (the client checks BatchAppend). */
const STREAMS_METHODS = ['read', 'append', 'batchappend', 'delete', 'tombstone']
/** ticks (100 ns) since the Unix epoch, as the node writes `created`. */
const TICKS_PER_MS = 10_000n

export interface FakeEventStoreDb {
  /** `esdb://127.0.0.1:PORT?tls=false` */
  readonly url: string
  readonly log: FakeLog
  /** Every append request, as the node received it (metastream appends included). */
  readonly appends: { stream: string; expected: ExpectedRevision; via: 'Append' | 'BatchAppend' }[]
  /** Runs once, for the next append, after it arrived and before it is applied: inject races here. */
  beforeAppend: ((stream: string) => Promise<void> | void) | undefined
  /** Subscriptions open now (a cancelled one leaves once the node hears of it). */
  readonly subscriptions: number
  close(): Promise<void>
}

export async function startFakeEventStoreDb(options: { serverFeatures?: boolean } = {}): Promise<FakeEventStoreDb> {
  const log = new FakeLog()
  const server = new grpc.Server()
  const live = new Set<ReadCall>()

  const fake: FakeEventStoreDb = {
    url: '',
    log,
    appends: [],
    beforeAppend: undefined,
    get subscriptions() {
      return live.size
    },
    async close() {
      for (const call of live) call.end()
      server.forceShutdown()
    },
  }

  async function apply(via: 'Append' | 'BatchAppend', stream: string, expected: ExpectedRevision, events: ProposedEvent[]): Promise<AppendOutcome> {
    fake.appends.push({ stream, expected, via })
    const hook = fake.beforeAppend
    fake.beforeAppend = undefined
    await hook?.(stream)
    return log.append(stream, events, expected)
  }

  server.addService(ServerFeaturesService, {
    getSupportedMethods(_call: unknown, callback: GrpcJs.sendUnaryData<FeaturesPb.SupportedMethods>) {
      if (options.serverFeatures === false) return callback({ code: grpc.status.UNIMPLEMENTED, details: 'Method not found' })
      const methods = new featuresPb.SupportedMethods().setEventStoreServerVersion(SERVER_VERSION)
      for (const name of STREAMS_METHODS) {
        methods.addMethods(new featuresPb.SupportedMethod().setServiceName('event_store.client.streams.streams').setMethodName(name))
      }
      callback(null, methods)
    },
  })

  server.addService(StreamsService, {
    read(call: ReadCall) {
      const readOptions = call.request.getOptions()
      if (!readOptions) return fail(call, grpc.status.INVALID_ARGUMENT, 'ReadReq without options')
      if (readOptions.hasSubscription()) return subscribe(call, readOptions)
      const records = readOptions.hasStream() ? readStream(call, readOptions) : readAll(readOptions)
      if (!records) return
      for (const record of records) call.write(eventMessage(record))
      call.end()
    },

    append(call: GrpcJs.ServerReadableStream<StreamsPb.AppendReq, StreamsPb.AppendResp>, callback: GrpcJs.sendUnaryData<StreamsPb.AppendResp>) {
      let target: StreamsPb.AppendReq.Options | undefined
      const events: ProposedEvent[] = []
      let invalid: string | undefined
      call.on('data', (request: StreamsPb.AppendReq) => {
        if (request.hasOptions()) target = request.getOptions()
        else invalid ??= proposed(request.getProposedMessage()!, events)
      })
      call.on('end', () => {
        if (!target || invalid) return callback({ code: grpc.status.INVALID_ARGUMENT, details: invalid ?? 'Append without options' })
        const stream = streamName(target.getStreamIdentifier())
        const expected = appendExpected(target)
        void apply('Append', stream, expected, events).then((outcome) => {
          if (outcome.ok) return callback(null, new AppendResp().setSuccess(appendSuccess(outcome)))
          if (outcome.kind === 'maximum_append_size_exceeded') return callback(maxAppendSizeError(outcome.maxAppendSize))
          callback(null, new AppendResp().setWrongExpectedVersion(unaryWrongExpectedVersion(outcome.current, expected)))
        })
      })
    },

    batchAppend(call: GrpcJs.ServerDuplexStream<StreamsPb.BatchAppendReq, StreamsPb.BatchAppendResp>) {
      const pending = new Map<string, { options: StreamsPb.BatchAppendReq.Options; events: ProposedEvent[]; invalid?: string }>()
      call.on('data', (request: StreamsPb.BatchAppendReq) => {
        const correlation = request.getCorrelationId()!
        const key = correlation.getString()
        let batch = pending.get(key)
        if (!batch) pending.set(key, (batch = { options: request.getOptions()!, events: [] }))
        for (const message of request.getProposedMessagesList()) batch.invalid ??= proposed(message, batch.events)
        if (!request.getIsFinal()) return
        pending.delete(key)
        const identifier = batch.options.getStreamIdentifier()
        const response = new BatchAppendResp().setCorrelationId(correlation).setStreamIdentifier(identifier)
        const expected = batchExpected(batch.options)
        if (batch.invalid) {
          call.write(response.setError(new statusPb.Status().setCode(Code.INVALID_ARGUMENT).setMessage(batch.invalid)))
          return
        }
        void apply('BatchAppend', streamName(identifier), expected, batch.events).then((outcome) => {
          if (outcome.ok) call.write(response.setSuccess(batchSuccess(outcome)))
          else call.write(response.setError(batchError(outcome, expected)))
        })
      })
      call.on('end', () => call.end())
    },
  })

  function readStream(call: ReadCall, readOptions: ReadOptions): readonly LogRecord[] | undefined {
    const target = readOptions.getStream()!
    const identifier = target.getStreamIdentifier()!
    const records = log.stream(streamName(identifier))
    if (records.length === 0) {
      call.write(new ReadResp().setStreamNotFound(new ReadResp.StreamNotFound().setStreamIdentifier(identifier)))
      call.end()
      return undefined
    }
    const count = Number(readOptions.getCount())
    if (readOptions.getReadDirection() === streamsPb.ReadReq.Options.ReadDirection.FORWARDS) {
      const from = target.hasEnd() ? records.length : target.hasRevision() ? Number(target.getRevision()) : 0
      return records.slice(from, from + count)
    }
    const from = target.hasStart() ? 0 : target.hasRevision() ? Math.min(Number(target.getRevision()), records.length - 1) : records.length - 1
    return records.slice(Math.max(0, from - count + 1), from + 1).reverse()
  }

  function readAll(readOptions: ReadOptions): readonly LogRecord[] {
    const target = readOptions.getAll()!
    const count = Number(readOptions.getCount())
    const at = target.hasPosition() ? BigInt(target.getPosition()!.getCommitPosition()) : undefined
    if (readOptions.getReadDirection() === streamsPb.ReadReq.Options.ReadDirection.FORWARDS) {
      const records = target.hasEnd() ? [] : log.all.filter((r) => at === undefined || r.position >= at)
      return records.slice(0, count)
    }
    const records = target.hasStart() ? [] : log.all.filter((r) => at === undefined || r.position < at)
    return records.slice(-count).reverse()
  }

  function subscribe(call: ReadCall, readOptions: ReadOptions): void {
    let wanted: (record: LogRecord) => boolean
    let after: (record: LogRecord) => boolean
    if (readOptions.hasStream()) {
      const target = readOptions.getStream()!
      const stream = streamName(target.getStreamIdentifier())
      const revision = target.hasRevision() ? BigInt(target.getRevision()) : undefined
      wanted = (record) => record.stream === stream
      after = target.hasEnd() ? () => false : (record) => revision === undefined || record.revision > revision
    } else {
      const target = readOptions.getAll()!
      const position = target.hasPosition() ? BigInt(target.getPosition()!.getCommitPosition()) : undefined
      const filter = readOptions.hasFilter() ? filterOf(readOptions.getFilter()!) : undefined
      wanted = (record) => passes(record, filter)
      after = target.hasEnd() ? () => false : (record) => position === undefined || record.position > position
    }
    call.write(new ReadResp().setConfirmation(new ReadResp.SubscriptionConfirmation().setSubscriptionId(randomUUID())))
    const following = log.follow((record) => {
      if (wanted(record)) call.write(eventMessage(record))
    })
    live.add(call)
    const stop = () => {
      following.stop()
      live.delete(call)
    }
    call.on('cancelled', stop)
    call.on('close', stop)
    for (const record of following.history) if (wanted(record) && after(record)) call.write(eventMessage(record))
    call.write(new ReadResp().setCaughtUp(new ReadResp.CaughtUp()))
  }

  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, bound) => (error ? reject(error) : resolve(bound)))
  })
  Object.assign(fake, { url: `esdb://127.0.0.1:${port}?tls=false` })
  return fake
}

function fail(call: ReadCall, code: GrpcJs.status, details: string): void {
  call.emit('error', { code, details })
}

function streamName(identifier: SharedPb.StreamIdentifier | undefined): string {
  return Buffer.from(identifier?.getStreamName_asU8() ?? new Uint8Array()).toString('utf8')
}

/** Adds one proposed message to `events`; returns why the node refuses it, if it does. */
function proposed(message: StreamsPb.AppendReq.ProposedMessage | StreamsPb.BatchAppendReq.ProposedMessage, events: ProposedEvent[]): string | undefined {
  const metadata = message.getMetadataMap()
  const type = metadata.get('type')
  const contentType = metadata.get('content-type')
  if (!type || !contentType) return 'Required metadata property missing: type and content-type'
  const id = message.getId()?.getString() ?? ''
  if (!UUID.test(id)) return `Invalid event id ${JSON.stringify(id)}`
  // The node parses the id as a Guid and writes it back lower case.
  events.push({ id: id.toLowerCase(), type, contentType, data: message.getData_asU8(), metadata: message.getCustomMetadata_asU8() })
  return undefined
}

function eventMessage(record: LogRecord): StreamsPb.ReadResp {
  const recorded = new ReadResp.ReadEvent.RecordedEvent()
    .setId(new sharedPb.UUID().setString(record.id))
    .setStreamIdentifier(new sharedPb.StreamIdentifier().setStreamName(Buffer.from(record.stream, 'utf8')))
    .setStreamRevision(record.revision.toString())
    .setCommitPosition(record.position.toString())
    .setPreparePosition(record.position.toString())
    .setData(record.data)
    .setCustomMetadata(record.metadata)
  const metadata = recorded.getMetadataMap()
  metadata.set('type', record.type)
  metadata.set('content-type', record.contentType)
  metadata.set('created', (BigInt(record.created.getTime()) * TICKS_PER_MS).toString())
  return new ReadResp().setEvent(new ReadResp.ReadEvent().setEvent(recorded).setCommitPosition(record.position.toString()))
}

function filterOf(options: StreamsPb.ReadReq.Options.FilterOptions): Filter {
  const on = options.hasStreamIdentifier() ? 'stream' : 'type'
  const expression = (on === 'stream' ? options.getStreamIdentifier() : options.getEventType())!
  return { on, prefixes: expression.getPrefixList(), regex: expression.getRegex() || undefined }
}

function appendExpected(options: StreamsPb.AppendReq.Options): ExpectedRevision {
  if (options.hasRevision()) return BigInt(options.getRevision())
  if (options.hasNoStream()) return 'no_stream'
  if (options.hasStreamExists()) return 'stream_exists'
  return 'any'
}

function batchExpected(options: StreamsPb.BatchAppendReq.Options): ExpectedRevision {
  if (options.hasStreamPosition()) return BigInt(options.getStreamPosition())
  if (options.hasNoStream()) return 'no_stream'
  if (options.hasStreamExists()) return 'stream_exists'
  return 'any'
}

type Appended = Extract<AppendOutcome, { ok: true }>

function appendSuccess(outcome: Appended): StreamsPb.AppendResp.Success {
  const success = new AppendResp.Success()
  if (outcome.revision === 'no_stream') success.setNoStream(new sharedPb.Empty())
  else success.setCurrentRevision(outcome.revision.toString())
  if (outcome.position === undefined) return success.setNoPosition(new sharedPb.Empty())
  return success.setPosition(new AppendResp.Position().setCommitPosition(outcome.position.toString()).setPreparePosition(outcome.position.toString()))
}

function batchSuccess(outcome: Appended): StreamsPb.BatchAppendResp.Success {
  const success = new BatchAppendResp.Success()
  if (outcome.revision === 'no_stream') success.setNoStream(new GoogleEmpty())
  else success.setCurrentRevision(outcome.revision.toString())
  if (outcome.position === undefined) return success.setNoPosition(new GoogleEmpty())
  return success.setPosition(new sharedPb.AllStreamPosition().setCommitPosition(outcome.position.toString()).setPreparePosition(outcome.position.toString()))
}

/** The unary Append's answer: the 20.6 fields and the current ones, as a node fills both. */
function unaryWrongExpectedVersion(current: bigint | 'no_stream', expected: ExpectedRevision): StreamsPb.AppendResp.WrongExpectedVersion {
  const answer = new AppendResp.WrongExpectedVersion()
  if (current === 'no_stream') answer.setNoStream2060(new sharedPb.Empty()).setCurrentNoStream(new sharedPb.Empty())
  else answer.setCurrentRevision2060(Number(current)).setCurrentRevision(current.toString())
  if (typeof expected === 'bigint') answer.setExpectedRevision2060(Number(expected)).setExpectedRevision(expected.toString())
  else if (expected === 'no_stream') answer.setExpectedNoStream(new sharedPb.Empty())
  else if (expected === 'stream_exists') answer.setStreamExists2060(new sharedPb.Empty()).setExpectedStreamExists(new sharedPb.Empty())
  else answer.setAny2060(new sharedPb.Empty()).setExpectedAny(new sharedPb.Empty())
  return answer
}

/** BatchAppend's error: a google.rpc.Status whose details pack the node's error message. */
function batchError(outcome: Exclude<AppendOutcome, Appended>, expected: ExpectedRevision): StatusPb.Status {
  const details = new Any()
  if (outcome.kind === 'maximum_append_size_exceeded') {
    details.pack(new sharedPb.MaximumAppendSizeExceeded().setMaxappendsize(outcome.maxAppendSize).serializeBinary(), 'event_store.client.MaximumAppendSizeExceeded')
    return new statusPb.Status().setCode(Code.INVALID_ARGUMENT).setMessage('MaximumAppendSizeExceeded').setDetails(details)
  }
  const wrong = new sharedPb.WrongExpectedVersion()
  if (outcome.current === 'no_stream') wrong.setCurrentNoStream(new GoogleEmpty())
  else wrong.setCurrentStreamRevision(outcome.current.toString())
  if (typeof expected === 'bigint') wrong.setExpectedStreamPosition(expected.toString())
  else if (expected === 'no_stream') wrong.setExpectedNoStream(new GoogleEmpty())
  else if (expected === 'stream_exists') wrong.setExpectedStreamExists(new GoogleEmpty())
  else wrong.setExpectedAny(new GoogleEmpty())
  details.pack(wrong.serializeBinary(), 'event_store.client.WrongExpectedVersion')
  return new statusPb.Status().setCode(Code.ALREADY_EXISTS).setMessage('WrongExpectedVersion').setDetails(details)
}

function maxAppendSizeError(maxAppendSize: number): Partial<GrpcJs.StatusObject> {
  const metadata = new grpc.Metadata()
  metadata.set('exception', 'maximum-append-size-exceeded')
  metadata.set('maximum-append-size', String(maxAppendSize))
  return { code: grpc.status.INVALID_ARGUMENT, details: `Maximum Append Size of ${maxAppendSize} Exceeded.`, metadata }
}
