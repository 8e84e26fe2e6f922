// The browser side of the UI tests, screenshots and the ui bench: Debian's chromium driven by
// playwright-core against the real server (startServer on PGlite) with the scripted fake LLM.
import { existsSync } from 'node:fs'
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core'
import { startFakeProvider, type FakeProvider } from '../fakes/script.ts'
import { buildWebUi } from '../../src/web/plugin.ts'
import { startWorkspaceServer, type WorkspaceServer } from '../workspaces/harness.ts'

const CANDIDATES = ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/lib/chromium/chromium', '/usr/bin/google-chrome']

/** The Chromium to drive: CHROMIUM_PATH, else the first installed candidate, else null. */
export function findChromium(): string | null {
  const named = process.env.CHROMIUM_PATH
  if (named) return existsSync(named) ? named : null
  return CANDIDATES.find((path) => existsSync(path)) ?? null
}

export const chromiumPath = findChromium()

/**
 * Whether the browser suites run. Without a Chromium they are skipped, loudly, except under CI,
 * where a missing browser is an error (.ci/run installs it).
 */
export function browserAvailable(): boolean {
  if (chromiumPath) return true
  if (process.env.CI) throw new Error('CI is set but no Chromium is installed (apt-get install -y chromium, or set CHROMIUM_PATH)')
  console.warn('\n*** No Chromium found (apt-get install -y chromium, or set CHROMIUM_PATH): the browser tests are SKIPPED ***\n')
  return false
}

export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: chromiumPath!, headless: true, args: ['--no-sandbox', '--disable-dev-shm-usage'] })
}

export interface UiServer {
  url: string
  fake: FakeProvider
  h: WorkspaceServer
  adminToken: string
  close(): Promise<void>
}

let built: Promise<boolean> | null = null
/** Builds web/ into web/dist once per process, so the browser runs the UI of the sources under test. */
export function buildUi(): Promise<boolean> {
  built ??= buildWebUi((line) => {
    if (line.startsWith('could not')) throw new Error(line)
  })
  return built
}

export async function startUiServer(): Promise<UiServer> {
  await buildUi()
  const fake = await startFakeProvider('openai-chat')
  const h = await startWorkspaceServer(fake)
  const { readFileSync } = await import('node:fs')
  const { join } = await import('node:path')
  return {
    url: h.server.url,
    fake,
    h,
    adminToken: readFileSync(join(h.dataDir, 'admin-token'), 'utf8').trim(),
    async close() {
      await h.close()
      await fake.close()
    },
  }
}

/** A page already signed in with `token` (the sign-in test does it through the form instead). */
export async function signedInPage(
  browser: Browser,
  url: string,
  token: string | null,
  viewport = { width: 1100, height: 800 },
  colorScheme: 'light' | 'dark' = 'light',
): Promise<{ context: BrowserContext; page: Page; problems: string[] }> {
  const context = await browser.newContext({ viewport, baseURL: url, colorScheme })
  // Generous: `npm test` runs the browser beside other suites on two cores. Waits are for states, never for time.
  context.setDefaultTimeout(60_000)
  if (token) await context.addInitScript((t) => localStorage.setItem('cairn.token', t), token)
  const page = await context.newPage()
  const problems: string[] = []
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(`console error: ${message.text()}`)
  })
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`))
  return { context, page, problems }
}
