// Runs `node bin/cairn.js …` as a user would, with a controlled environment.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process'
import { fileURLToPath } from 'node:url'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))

export function cairnEnv(extra: Record<string, string | undefined>): NodeJS.ProcessEnv {
  // EVENTSTORE_URL in the test run's environment names a real node for the suites written for it;
  // a `cairn serve` keeps its log there only when a test passes it.
  const env: NodeJS.ProcessEnv = { ...process.env, EVENTSTORE_URL: undefined, ...extra }
  if (env.EVENTSTORE_URL === undefined) delete env.EVENTSTORE_URL
  for (const [k, v] of Object.entries(extra)) if (v === undefined) delete env[k]
  return env
}

export function spawnCairn(args: string[], env: NodeJS.ProcessEnv): ChildProcessWithoutNullStreams {
  return spawn(process.execPath, ['bin/cairn.js', ...args], { cwd: ROOT, env })
}

export async function runCairn(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawnCairn(args, env)
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()))
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()))
  const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)))
  return { code, stdout, stderr }
}

export interface ServedCairn {
  child: ChildProcessWithoutNullStreams
  url: string
  /** Everything it printed so far, stdout and stderr. */
  output: () => string
}

/** Starts `cairn serve` and resolves once it prints the address it listens on. */
export async function serveCairn(env: NodeJS.ProcessEnv): Promise<ServedCairn> {
  const child = spawnCairn(['serve'], env)
  let output = ''
  child.stderr.on('data', (c: Buffer) => (output += c.toString()))
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`cairn serve did not start:\n${output}`)), 60_000)
    child.stdout.on('data', (c: Buffer) => {
      output += c.toString()
      const match = /cairn listening on (http:\/\/\S+)/.exec(output)
      if (match) {
        clearTimeout(timer)
        resolve(match[1]!)
      }
    })
    child.on('exit', (code) => reject(new Error(`cairn serve exited with ${code}:\n${output}`)))
  })
  return { child, url, output: () => output }
}

/** POSTs a GraphQL request to a served Cairn; returns the raw answer text and its parsed body. */
export async function postGraphQL(url: string, token: string, query: string, variables: Record<string, unknown> = {}) {
  const res = await fetch(url + '/graphql', {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ query, variables }),
  })
  const text = await res.text()
  return { text, body: JSON.parse(text) as { data?: any; errors?: { message: string }[] } }
}

/** The `data` of a GraphQL answer; throws its errors' messages. */
export function dataOf({ body }: { body: { data?: any; errors?: { message: string }[] } }) {
  if (body.errors) throw new Error(body.errors.map((e) => e.message).join('; '))
  return body.data
}

/** Stops every served Cairn still running (SIGTERM) and waits for each to close. */
export async function stopServed(servers: readonly (ServedCairn | undefined)[]): Promise<void> {
  for (const s of servers) {
    if (!s || s.child.exitCode !== null || s.child.signalCode !== null) continue
    s.child.kill('SIGTERM')
    await new Promise((r) => s.child.once('close', r))
  }
}
