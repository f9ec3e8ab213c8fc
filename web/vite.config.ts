// The wall is one static bundle served by cityroom itself (src/webapp): relative asset URLs,
// hashed file names under assets/ (cached as immutable by the server), no source maps shipped.
import { defineConfig } from 'vite';

export default defineConfig({
  base: '/',
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2021',
    chunkSizeWarningLimit: 1500,
    assetsInlineLimit: 0,
    rollupOptions: {
      output: { manualChunks: { maplibre: ['maplibre-gl'] } },
    },
  },
  server: {
    proxy: {
      '/ngsi-ld': 'http://127.0.0.1:8080',
      '/cityroom': 'http://127.0.0.1:8080',
      '/live': { target: 'ws://127.0.0.1:8080', ws: true },
    },
  },
});
