import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

/**
 * End-to-end tests: a real Debian guest with real cloud-init boots kubestation's seed
 * ISOs under QEMU (software emulation). Minutes per boot, so they are not part of
 * `npm test`; run them with `npm run test:e2e` (Linux, root: debootstrap, chroot).
 */
export default defineConfig({
  test: {
    include: ['test/e2e/**/*.test.ts'],
    setupFiles: ['test/setup/loopback-only.ts'],
    // A complete run writes bench-results/e2e.json (boots, their durations, the image build) and the
    // README's e2e figures from it.
    reporters: ['default', fileURLToPath(new URL('./support/run-record-reporter.ts', import.meta.url))],
    // One guest at a time: each QEMU uses both cores.
    fileParallelism: false,
    testTimeout: 30 * 60_000,
    hookTimeout: 30 * 60_000,
  },
});
