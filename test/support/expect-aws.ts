import {
  DescribeInstancesCommand,
  DescribeSnapshotsCommand,
  DescribeVolumesCommand,
} from '@aws-sdk/client-ec2';
import { expect } from 'vitest';
import type { Account } from './accounts.ts';

/** Asserts that `promise` rejects with AWS error `code` (the SDK's error name) and a message. */
export async function expectAwsError(
  promise: Promise<unknown>,
  code: string,
  message?: string | RegExp,
): Promise<Error & { $metadata?: { httpStatusCode?: number } }> {
  const error = await promise.then(
    () => {
      throw new Error(`expected AWS error ${code}, but the call succeeded`);
    },
    (err: unknown) => err as Error & { $metadata?: { httpStatusCode?: number } },
  );
  expect(error.name, `error code (message: ${error.message})`).toBe(code);
  if (message !== undefined) {
    if (typeof message === 'string') expect(error.message).toBe(message);
    else expect(error.message).toMatch(message);
  }
  return error;
}

/** Polls `check` until it returns a value other than undefined (bounded). */
export async function eventually<T>(
  check: () => Promise<T | undefined>,
  timeoutMs = 15_000,
  everyMs = 200,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** How many volumes, snapshots and instances the account owns in the region: what a restore would create. */
export async function resourcesOf(
  account: Account,
): Promise<{ volumes: number; snapshots: number; instances: number }> {
  const [volumes, snapshots, instances] = await Promise.all([
    account.aws.ec2.send(new DescribeVolumesCommand({})),
    account.aws.ec2.send(new DescribeSnapshotsCommand({ OwnerIds: ['self'] })),
    account.aws.ec2.send(new DescribeInstancesCommand({})),
  ]);
  return {
    volumes: volumes.Volumes?.length ?? 0,
    snapshots: snapshots.Snapshots?.length ?? 0,
    instances: (instances.Reservations ?? []).flatMap((reservation) => reservation.Instances ?? []).length,
  };
}
