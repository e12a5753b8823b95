import { defineConfig } from 'vite';

// Builds into the Python package (src/sensorhub/web), so `pip install` needs no Node. The output
// is reproducible: content-hashed names, no source maps, no build timestamps.
export default defineConfig({
  base: '/',
  build: {
    outDir: '../src/sensorhub/web',
    emptyOutDir: true,
    sourcemap: false,
    reportCompressedSize: true,
    chunkSizeWarningLimit: 200,
  },
  server: {
    proxy: {
      '/api': 'http://127.0.0.1:8000',
      '/openapi.json': 'http://127.0.0.1:8000',
      '/metrics': 'http://127.0.0.1:8000',
      '/ready': 'http://127.0.0.1:8000',
      '/socket.io': { target: 'ws://127.0.0.1:8000', ws: true },
    },
  },
});
