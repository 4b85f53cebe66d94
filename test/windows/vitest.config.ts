import { defineConfig } from 'vitest/config';

/**
 * The Windows tier: kubestation's compiled CLI as a win32 process (Windows node.exe under Wine, pinned in windows-node.ts)
 * against the simulators running as Linux processes on 127.0.0.1. Not part of `npm test`; run it with
 * `npm run test:windows` (needs wine, wine64 and gcc-mingw-w64-x86-64-win32; see test/windows/README.md).
 */
export default defineConfig({
  test: {
    include: ['test/windows/**/*.test.ts'],
    setupFiles: ['test/setup/loopback-only.ts'],
    fileParallelism: false,
    // Each step needs the one before: stop at the first failure.
    bail: 1,
    testTimeout: 10 * 60_000,
    hookTimeout: 10 * 60_000,
  },
});
