import { defineConfig } from 'vitest/config';

// Two projects: `unit` is pure code beside the sources (no Redis, no emulator);
// `integration` is everything under test/ and talks to a real redis-server and the
// local AWS emulator started by @ec2-restore/local-aws. At the end of a run the slowest test files are
// listed (test/reporters/slowest-files.ts) and the global teardown prints the emulator's peak memory.
export default defineConfig({
  test: {
    reporters: ['default', './test/reporters/slowest-files.ts'],
    projects: [
      {
        test: {
          name: 'unit',
          include: ['packages/*/src/**/*.test.ts', 'services/*/src/**/*.test.ts'],
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/**/*.test.ts'],
          testTimeout: 120_000,
          hookTimeout: 180_000,
          globalSetup: ['test/global-setup.ts'],
          setupFiles: ['test/setup-env.ts'],
        },
      },
    ],
  },
});
