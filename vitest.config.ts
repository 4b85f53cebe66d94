import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    exclude: ['test/e2e/**', 'node_modules/**'],
    // Every test runs with the loopback guard installed (see test/setup/loopback-only.ts).
    setupFiles: ['test/setup/loopback-only.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
  },
});
