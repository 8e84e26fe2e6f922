// The web UI's build: `npm install` (the root package's `prepare`) runs `vite build web`, and the
// server serves web/dist at / (src/web/plugin.ts). Everything is bundled; nothing comes from a CDN.
import react from '@vitejs/plugin-react'
import { defineConfig } from 'vite'

export default defineConfig({
  root: import.meta.dirname,
  plugins: [react()],
  build: { outDir: 'dist', emptyOutDir: true, sourcemap: true, chunkSizeWarningLimit: 1500 },
  server: { proxy: { '/graphql': { target: 'http://127.0.0.1:8080', ws: true }, '/api': 'http://127.0.0.1:8080' } },
})
