import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    exclude: ['test/e2e/**', 'test/windows/**', 'node_modules/**'],
    // Every test runs with the loopback guard installed (see test/setup/loopback-only.ts).
    setupFiles: ['test/setup/loopback-only.ts', 'test/setup/remove-temp-dirs.ts'],
    // A temporary root per run (TMPDIR); the run fails if a test leaves key material in it (test/setup/temp-root.ts).
    globalSetup: ['test/setup/temp-root.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
  },
});
