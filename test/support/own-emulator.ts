import { type RunningEmulator, startEmulator } from '@ec2-restore/local-aws';
import { afterAll, beforeAll } from 'vitest';
import { type Account, newAccount } from './accounts.ts';

/**
 * An emulator of the test file's own, started with `env` (settings the shared emulator of the
 * integration run does not have, e.g. a consistency window or low EBS direct limits).
 */
export async function startEmulatorWith(env: Record<string, string>): Promise<RunningEmulator> {
  const previous = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
  Object.assign(process.env, env);
  try {
    return await startEmulator();
  } finally {
    for (const [k, v] of Object.entries(previous)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

/** Root clients of a fresh account (or of account `id`) on `emulator`, one attempt per call. */
export function accountOn(emulator: RunningEmulator, id?: string): Account {
  return newAccount({ endpoint: emulator.endpoint, ...(id ? { id } : {}) });
}

/**
 * An emulator of the describe block's own, started with `env` before its tests and stopped after
 * them; the function returned gives a fresh account on it.
 */
export function emulatorPerBlock(env: Record<string, string>): () => Account {
  let emulator: RunningEmulator | undefined;
  beforeAll(async () => {
    emulator = await startEmulatorWith(env);
  });
  afterAll(async () => {
    await emulator?.stop();
  });
  return () => {
    if (!emulator) throw new Error('the emulator of this block has not started');
    return accountOn(emulator);
  };
}
