import { type AwsClients, createAwsClients } from '@ec2-restore/aws-clients';
import {
  credentialsForAccount,
  type RunningEmulator,
  randomAccountId,
  startEmulator,
} from '@ec2-restore/local-aws';
import { REGION } from './helpers.ts';

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

/** Root clients of a fresh account on `emulator`, one attempt per call. */
export function accountOn(emulator: RunningEmulator): { id: string; aws: AwsClients } {
  const id = randomAccountId();
  const aws = createAwsClients({
    region: REGION,
    endpoint: emulator.endpoint,
    credentials: credentialsForAccount(id),
    maxAttempts: 1,
  });
  return { id, aws };
}
