// Entry point of the `cairn` command (bin/cairn.js imports it).
import { runCli } from './commands.ts'

const io = {
  env: process.env,
  out: (line: string) => process.stdout.write(line + '\n'),
  err: (line: string) => process.stderr.write(line + '\n'),
}

try {
  const code = await runCli(process.argv.slice(2), io)
  if (code !== undefined) process.exitCode = code
} catch (err) {
  io.err(`cairn: ${err instanceof Error ? err.message : String(err)}`)
  process.exitCode = 1
}
