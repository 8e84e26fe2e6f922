/**
 * The web UI: the files `vite build web` wrote to web/dist (the root package's `prepare` runs it,
 * so `npm install` builds it), served at / through @fastify/static. Any other GET that asks for
 * HTML and is not an API path gets index.html, so /chats/<id> opens in the browser.
 */
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import fastifyStatic from '@fastify/static'
import type { FastifyPluginAsync } from 'fastify'

export const WEB_DIST = fileURLToPath(new URL('../../web/dist', import.meta.url))

/** Paths the UI never claims: they answer as their own routes do, 404 included. */
const API_PATHS = /^\/(graphql|graphiql|api|healthz|metrics)(\/|$|\?)/

const NOT_BUILT = `<!doctype html><meta charset="utf-8"><title>Cairn</title>
<p>The web UI is not built. Run <code>npm install</code> (or <code>npm run build:web</code>) in Cairn's folder and reload.</p>`

/** Builds web/ into web/dist with Vite (what `npm install`'s prepare does), for a first start without it. */
export async function buildWebUi(log: (line: string) => void = () => {}): Promise<boolean> {
  try {
    const { build } = await import('vite')
    log('building the web UI into web/dist…')
    const nodeEnv = process.env.NODE_ENV
    process.env.NODE_ENV = 'production'
    try {
      await build({ configFile: fileURLToPath(new URL('../../web/vite.config.ts', import.meta.url)), logLevel: 'warn' })
    } finally {
      if (nodeEnv === undefined) delete process.env.NODE_ENV
      else process.env.NODE_ENV = nodeEnv
    }
    return true
  } catch (err) {
    log(`could not build the web UI: ${err instanceof Error ? err.message : String(err)}`)
    return false
  }
}

export const webPlugin: FastifyPluginAsync<{ root?: string; log?: (line: string) => void; buildIfMissing?: boolean }> = async (app, opts) => {
  const root = opts.root ?? WEB_DIST
  const indexPath = join(root, 'index.html')
  if (!existsSync(indexPath) && opts.buildIfMissing && !opts.root) await buildWebUi(opts.log)
  if (!existsSync(indexPath)) {
    opts.log?.(`web UI not built (${indexPath} is missing): run npm run build:web`)
    app.get('/', async (_request, reply) => reply.type('text/html; charset=utf-8').send(NOT_BUILT))
    return
  }
  const index = readFileSync(indexPath)
  await app.register(fastifyStatic, {
    root,
    wildcard: false,
    index: false,
    setHeaders(res, path) {
      // Vite names every asset by its content hash: it never changes under its name.
      if (path.includes(`${join(root, 'assets')}`)) res.header('cache-control', 'public, max-age=31536000, immutable')
    },
  })
  const sendIndex = (reply: import('fastify').FastifyReply) => reply.header('cache-control', 'no-cache').type('text/html; charset=utf-8').send(index)
  app.get('/', async (_request, reply) => sendIndex(reply))
  app.setNotFoundHandler(async (request, reply) => {
    const wantsHtml = request.method === 'GET' && String(request.headers.accept ?? '').includes('text/html')
    if (wantsHtml && !API_PATHS.test(request.url)) return sendIndex(reply)
    return reply.code(404).send({ message: `Route ${request.method}:${request.url} not found`, error: 'Not Found', statusCode: 404 })
  })
}

// Not encapsulated: its not-found handler is the app's, for every path.
Object.assign(webPlugin, { [Symbol.for('skip-override')]: true })
