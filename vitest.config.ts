import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    maxWorkers: 2,
    // Test files share a worker process: PGlite's WASM compiles once per process, not once per file.
    isolate: false,
    testTimeout: 60_000,
    // Hooks start real servers, daemons and browsers: on two busy cores that can take a while.
    hookTimeout: 180_000,
  },
})
