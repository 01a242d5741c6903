import { defineConfig } from 'vitest/config';
import LongFilesFirst from './test/reporters/long-files-first.ts';

// Two projects: `unit` is pure code beside the sources (no Redis, no emulator);
// `integration` is everything under test/ and talks to a real redis-server and the
// local AWS emulator started by @ec2-restore/local-aws. At the end of a run the slowest test files are
// listed, with how many of the machine's cores were busy meanwhile (test/reporters/slowest-files.ts: in
// CI on 2 cores it is near 2, so the run is bound by CPU, not by what its tests wait for), and the global
// teardown prints the emulator's peak memory.
// Integration test files mostly wait (on the emulator, Redis, worker processes), and each isolates
// itself (fresh random accounts, its own queue and state prefixes, ephemeral ports), so several run at
// once even on a 2-core machine, where vitest's default is one at a time (cores - 1). In CI: 4 at
// once (a clean-clone run took 7 min 42 s against 8 min 42 s with 3); elsewhere vitest's default (a
// development machine may be shared).
// EC2_RESTORE_INTEGRATION_WORKERS overrides both (1: one file at a time).
const integrationWorkers = Number(process.env.EC2_RESTORE_INTEGRATION_WORKERS ?? (process.env.CI ? 4 : 0));
if (!Number.isInteger(integrationWorkers) || integrationWorkers < 0) {
  throw new Error(
    `EC2_RESTORE_INTEGRATION_WORKERS must be a whole number of test files at once, e.g. 3 (got "${process.env.EC2_RESTORE_INTEGRATION_WORKERS}")`,
  );
}

export default defineConfig({
  test: {
    reporters: ['default', './test/reporters/slowest-files.ts'],
    sequence: { sequencer: LongFilesFirst },
    projects: [
      {
        test: {
          name: 'unit',
          include: ['packages/*/src/**/*.test.ts', 'services/*/src/**/*.test.ts'],
          // Modules loaded once per worker process, not once per file (no unit test mocks modules):
          // 55 files in 10-15 s and 6.7 CPU s, against 48-56 s and 27-33 CPU s.
          isolate: false,
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/**/*.test.ts'],
          testTimeout: 120_000,
          hookTimeout: 180_000,
          globalSetup: ['test/global-setup.ts'],
          // Each worker process loads the AWS SDK, BullMQ and our packages once, not once per file:
          // on 24 files, 78 -> 47 CPU seconds (import 53 -> 9 s). Files already isolate their data
          // (accounts, prefixes, ports); test/setup-env.ts runs before every file all the same.
          isolate: false,
          setupFiles: ['test/setup-env.ts'],
          ...(integrationWorkers > 0 ? { maxWorkers: integrationWorkers } : {}),
          // Its own group after the unit tests: vitest runs projects of one group with one worker count.
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});
