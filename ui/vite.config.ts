import { svelte } from '@sveltejs/vite-plugin-svelte'
import { defineConfig } from 'vitest/config'

// Built once into dist/, which the embedded server carries inside the binary.
export default defineConfig({
  plugins: [svelte()],
  build: {
    target: 'es2022',
    // The server's Content-Security-Policy allows no inline script; keep every asset a file.
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    reportCompressedSize: false,
  },
  test: {
    include: ['test/**/*.test.ts'],
    environment: 'node',
  },
})
