import type {
  AllStreamResolvedEvent,
  AllStreamSubscription,
  AppendResult,
  AppendToStreamOptions,
  GetStreamMetadataResult,
  JSONEventData,
  ReadAllOptions,
  ReadStreamOptions,
  ResolvedEvent,
  SetStreamMetadataOptions,
  StreamMetadata,
  StreamSubscription,
  StreamingRead,
  SubscribeToAllOptions,
  SubscribeToStreamOptions,
} from '@eventstore/db-client'

/**
 * Exactly the calls the adapter makes on `EventStoreDBClient`, with the client's own types.
 * The real client satisfies it (`connectEventStoreDb` assigns one to it, so the compiler checks);
 * the tests run that real client over gRPC against a fake node (test/fakes/eventstoredb/).
 */
export interface EsdbClientLike {
  appendToStream(streamName: string, events: JSONEventData[], options?: AppendToStreamOptions): Promise<AppendResult>
  /** Fails while iterating (not on the call) with `StreamNotFoundError` when the stream has no events. */
  readStream(streamName: string, options?: ReadStreamOptions): StreamingRead<ResolvedEvent>
  /** Reads `$all` from `fromPosition` inclusive. Needs a user allowed to read `$all` (admin by default). */
  readAll(options?: ReadAllOptions): StreamingRead<AllStreamResolvedEvent>
  /** Catch-up then live; resumes after `fromRevision`. */
  subscribeToStream(streamName: string, options?: SubscribeToStreamOptions): StreamSubscription
  /** Catch-up then live; resumes after `fromPosition`. Needs `$all` read rights. */
  subscribeToAll(options?: SubscribeToAllOptions): AllStreamSubscription
  getStreamMetadata(streamName: string): Promise<GetStreamMetadataResult>
  /** Appends to the metastream `$$<stream>`; `expectedRevision` applies to the metastream. */
  setStreamMetadata(streamName: string, metadata: StreamMetadata, options?: SetStreamMetadataOptions): Promise<AppendResult>
  dispose(): Promise<void>
}
