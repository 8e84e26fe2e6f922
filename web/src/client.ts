// One urql client per signed-in token: queries and mutations over HTTP (urql negotiates
// application/graphql-response+json), subscriptions over graphql-ws on the same /graphql path.
import { Client, fetchExchange, subscriptionExchange, type CombinedError } from '@urql/core'
import { createClient as createWsClient, type Client as WsClient } from 'graphql-ws'

export interface Connection {
  client: Client
  ws: WsClient
  close(): void
}

/** `organization`: the one requests act in (X-Cairn-Organization); null for the user's home organization. */
export function connect(token: string, organization: string | null, onUnauthorized: () => void): Connection {
  const wsUrl = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/graphql`
  const ws = createWsClient({
    url: wsUrl,
    connectionParams: { authorization: `Bearer ${token}`, ...(organization ? { organization } : {}) },
    lazy: true,
    retryAttempts: Infinity,
    shouldRetry: (event) => !(event && typeof event === 'object' && 'code' in event && (event.code === 4401 || event.code === 4403)),
    on: {
      closed: (event) => {
        if (event && typeof event === 'object' && 'code' in event && (event.code === 4401 || event.code === 4403)) onUnauthorized()
      },
    },
  })
  const client = new Client({
    url: '/graphql',
    // No document cache: every screen reads the read models as they are now.
    requestPolicy: 'network-only',
    preferGetMethod: false,
    fetchOptions: () => ({ headers: { authorization: `Bearer ${token}`, ...(organization ? { 'x-cairn-organization': organization } : {}) } }),
    exchanges: [
      fetchExchange,
      subscriptionExchange({
        forwardSubscription: (request) => ({
          subscribe: (sink) => ({ unsubscribe: ws.subscribe({ ...request, query: request.query ?? '' }, sink) }),
        }),
      }),
    ],
  })
  return { client, ws, close: () => void ws.dispose() }
}

/** What to show for a failed operation: the server's message when it sent one. */
export function errorMessage(error: CombinedError): string {
  return error.graphQLErrors[0]?.message ?? error.message
}
