import type { KMSClient } from '@aws-sdk/client-kms';
import { describe, expect, it } from 'vitest';
import { snapshotFailure } from './wait-for-snapshot.ts';

// What a snapshot in the `error` state fails with, by what DescribeKey says of its key. A narrow unit
// test: the KMS client answers one canned DescribeKey (test/pipeline/worker-volume.test.ts shows the
// disabled key on the emulator, end to end).

const KEY = 'arn:aws:kms:eu-west-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab';
const snapshot = { SnapshotId: 'snap-0abc', KmsKeyId: KEY, State: 'error' as const };

const kmsAnswering = (answer: () => unknown) => ({ send: async () => answer() }) as unknown as KMSClient;
const keyIn = (KeyState: string) => kmsAnswering(() => ({ KeyMetadata: { Arn: KEY, KeyState } }));
const refusing = (name: string, httpStatusCode: number) =>
  kmsAnswering(() => {
    throw Object.assign(new Error(`${name} from KMS`), { name, $metadata: { httpStatusCode } });
  });

describe('snapshotFailure: a snapshot in the error state', () => {
  it.each([
    ['Disabled', [`aws kms enable-key --key-id ${KEY}`]],
    [
      'PendingDeletion',
      [`aws kms cancel-key-deletion --key-id ${KEY}`, `aws kms enable-key --key-id ${KEY}`],
    ],
  ])(
    'its key %s: kms_key_unusable naming the key, its state and the commands that fix it',
    async (state, fixes) => {
      const error = await snapshotFailure(keyIn(state), snapshot);
      expect(error).toMatchObject({ code: 'kms_key_unusable', category: 'kms' });
      expect(error.message).toContain(
        `snapshot snap-0abc ended in the error state: its KMS key ${KEY} is ${state}`,
      );
      for (const fix of fixes) expect(error.message).toContain(fix);
    },
  );

  it('its key not describable by the worker role: kms_access_denied naming the key', async () => {
    const error = await snapshotFailure(refusing('AccessDeniedException', 400), snapshot);
    expect(error).toMatchObject({ code: 'kms_access_denied', category: 'kms' });
    expect(error.message).toContain(KEY);
  });

  it('its key gone: kms_key_not_found naming the key', async () => {
    const error = await snapshotFailure(refusing('NotFoundException', 400), snapshot);
    expect(error).toMatchObject({ code: 'kms_key_not_found', category: 'kms' });
    expect(error.message).toContain(KEY);
  });

  it("its key Enabled: snapshot_failed with EBS's StateMessage", async () => {
    const error = await snapshotFailure(keyIn('Enabled'), { ...snapshot, StateMessage: 'internal failure' });
    expect(error).toMatchObject({ code: 'snapshot_failed', category: 'aws' });
    expect(error.message).toBe('snapshot snap-0abc ended in the error state: internal failure');
  });

  it('KMS throttling is thrown as is (the job retries), not taken for the cause', async () => {
    await expect(snapshotFailure(refusing('ThrottlingException', 400), snapshot)).rejects.toMatchObject({
      name: 'ThrottlingException',
    });
  });
});
