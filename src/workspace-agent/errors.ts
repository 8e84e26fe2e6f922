// Errors the daemon's API answers with: `{error: {code, message}}` and an HTTP status.
export class AgentError extends Error {
  override name = 'AgentError'
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: Record<string, unknown>,
  ) {
    super(message)
  }
}

export const badRequest = (code: string, message: string, details?: Record<string, unknown>) =>
  new AgentError(400, code, message, details)
export const notFound = (message: string) => new AgentError(404, 'NOT_FOUND', message)

/** Maps a filesystem error on `path` to an error the model can act on. */
export function fsError(err: unknown, path: string): AgentError {
  const code = (err as NodeJS.ErrnoException)?.code
  switch (code) {
    case 'ENOENT':
      return new AgentError(404, 'NOT_FOUND', `${path}: no such file or directory`)
    case 'EISDIR':
      return new AgentError(400, 'IS_A_DIRECTORY', `${path} is a directory, not a file`)
    case 'ENOTDIR':
      return new AgentError(400, 'NOT_A_DIRECTORY', `${path}: a parent of this path is not a directory`)
    case 'EACCES':
    case 'EPERM':
      return new AgentError(403, 'PERMISSION_DENIED', `${path}: permission denied`)
    default:
      return new AgentError(500, 'IO_ERROR', `${path}: ${(err as Error)?.message ?? String(err)}`)
  }
}
