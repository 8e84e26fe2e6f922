// /graphql follows the GraphQL-over-HTTP spec: the public conformance audit (graphql-http's
// serverAudits) runs against a real server and must report no failure and no warning.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { serverAudits } from 'graphql-http'
import { backends } from '../support/databases.ts'
import { startApiServer, type ApiServer } from '../api/harness.ts'

const pglite = backends.find((b) => b.name === 'pglite')!

describe('GraphQL over HTTP', () => {
  let server: ApiServer
  let close: () => Promise<void>

  beforeAll(async () => {
    const opened = await pglite.open()
    close = opened.close
    server = await startApiServer(opened.db)
  })
  afterAll(async () => {
    await server?.close()
    await close?.()
  })

  it('passes every audit of the conformance suite, with no warning', async () => {
    const results = await Promise.all(serverAudits({ url: () => server.url + '/graphql' }).map(async (audit) => ({ audit, result: await audit.fn() })))
    const notOk = results
      .filter(({ result }) => result.status !== 'ok')
      .map(({ audit, result }) => `${result.status}: ${audit.name}${'reason' in result ? ` (${result.reason})` : ''}`)
    expect(notOk).toEqual([])
  })

  const post = (body: unknown, accept?: string) =>
    fetch(server.url + '/graphql', {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${server.adminToken}`, ...(accept ? { accept } : {}) },
      body: JSON.stringify(body),
    })

  it('answers application/graphql-response+json when the client prefers it: 400 and no data entry for a request that never ran', async () => {
    const ok = await post({ query: '{ me { role } }', extensions: null }, 'application/graphql-response+json, application/json;q=0.9')
    expect([ok.status, ok.headers.get('content-type')]).toEqual([200, 'application/graphql-response+json; charset=utf-8'])
    expect(await ok.json()).toEqual({ data: { me: { role: 'ADMIN' } } })

    const invalid = await post({ query: '{ nope }' }, 'application/graphql-response+json')
    expect(invalid.status).toBe(400)
    const body = (await invalid.json()) as Record<string, unknown>
    expect('data' in body).toBe(false)
    expect(body.errors).toMatchObject([{ message: 'Cannot query field "nope" on type "Query".' }])
  })

  it('answers a request error with 200 and no data entry when the client asks for application/json', async () => {
    const res = await post({ query: '{ me { ' }, 'application/json')
    expect([res.status, res.headers.get('content-type')]).toEqual([200, 'application/json; charset=utf-8'])
    const body = (await res.json()) as Record<string, unknown>
    expect('data' in body).toBe(false)
    expect(body.errors).toMatchObject([{ message: expect.stringMatching(/Syntax Error/) }])
  })

  it('keeps answering clients that name no media type as before: application/json, 400 and data null', async () => {
    const res = await post({ query: '{ me { ' }, '*/*')
    expect([res.status, res.headers.get('content-type')]).toEqual([400, 'application/json; charset=utf-8'])
    expect(await res.json()).toMatchObject({ data: null, errors: [{ message: expect.stringMatching(/Syntax Error/) }] })
    const executed = await post({ query: 'query Me { me { role } }', operationName: 'Me', variables: null })
    expect(executed.status).toBe(200)
    expect(await executed.json()).toEqual({ data: { me: { role: 'ADMIN' } } })
  })

  it('refuses parameters of the wrong type with 400, saying which', async () => {
    for (const [body, message] of [
      [{ query: 1 }, 'the query parameter must be a string'],
      [{ query: '{ me { role } }', operationName: false }, 'the operationName parameter must be a string or null'],
      [{ query: '{ me { role } }', variables: [] }, 'the variables parameter must be a map (a JSON object) or null'],
      [{ query: '{ me { role } }', extensions: 'x' }, 'the extensions parameter must be a map (a JSON object) or null'],
    ] as const) {
      const res = await post(body, 'application/json')
      expect(res.status).toBe(400)
      expect(await res.json()).toEqual({ errors: [{ message, extensions: { code: 'BAD_REQUEST' } }] })
    }
  })
})
