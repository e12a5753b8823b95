import { defineConfig } from '@hey-api/openapi-ts';

// The typed client is generated from sensorhub's own schema (`sensorhub openapi -o openapi.json`).
export default defineConfig({
  input: './openapi.json',
  output: { path: './src/client', format: null, lint: null },
  plugins: ['@hey-api/client-fetch', '@hey-api/typescript', { name: '@hey-api/sdk' }],
});
