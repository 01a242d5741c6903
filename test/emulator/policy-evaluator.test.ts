import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';

// The emulator's resource-policy evaluator (packages/local-aws/emulator/ec2restore_emulator/policy.py)
// has its own Python unit tests; run them here so CI runs them with the rest.
it('the emulator policy evaluator passes its Python unit tests', () => {
  const emulatorDir = fileURLToPath(new URL('../../packages/local-aws/emulator', import.meta.url));
  const run = spawnSync(
    process.env.EC2_RESTORE_PYTHON ?? 'python3',
    ['-m', 'unittest', 'discover', '-s', 'tests', '-t', '.'],
    {
      cwd: emulatorDir,
      encoding: 'utf8',
      env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1' },
    },
  );
  expect(run.status, run.stderr).toBe(0);
  expect(run.stderr).toMatch(/Ran \d+ tests/);
});
