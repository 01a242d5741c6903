import {
  CreateSnapshotCommand,
  CreateVolumeCommand,
  DescribeSnapshotsCommand,
  DescribeVolumesCommand,
} from '@aws-sdk/client-ec2';
import { CreateKeyCommand } from '@aws-sdk/client-kms';
import { credentialsForAccount, onceVisible } from '@ec2-restore/local-aws';
import {
  createStepClients,
  PermanentStepError,
  restoreInstance,
  type StepClients,
} from '@ec2-restore/pipeline';
import { afterEach, describe, expect, it } from 'vitest';
import { type Account, newAccount, REGION } from './harness.ts';

// The instance step called directly (no queue): a step function takes its clients as arguments.

describe('instance step: KMS failure after CreateVolume (docs/architecture.md#what-the-emulator-adds-to-moto)', () => {
  let account: Account | undefined;
  let clients: StepClients | undefined;

  afterEach(() => {
    account?.aws.destroy();
    clients?.destroy();
  });

  it('a volume whose key the caller may describe but not use disappears: kms error naming the key and the principal', async () => {
    account = newAccount();
    const { ec2, kms } = account.aws;
    // A key the account may only describe: CreateVolume is accepted, the volume then fails.
    const { KeyMetadata } = await kms.send(
      new CreateKeyCommand({
        Policy: JSON.stringify({
          Version: '2012-10-17',
          Statement: [
            {
              Effect: 'Allow',
              Principal: { AWS: `arn:aws:iam::${account.id}:root` },
              Action: ['kms:DescribeKey', 'kms:PutKeyPolicy', 'kms:GetKeyPolicy'],
              Resource: '*',
            },
          ],
        }),
        BypassPolicyLockoutSafetyCheck: true,
      }),
    );
    const keyArn = KeyMetadata?.Arn ?? '';
    const source = await ec2.send(new CreateVolumeCommand({ AvailabilityZone: `${REGION}a`, Size: 1 }));
    const snapshot = await onceVisible(() =>
      ec2.send(new CreateSnapshotCommand({ VolumeId: source.VolumeId })),
    );
    // As the snapshot step hands over only snapshots it has seen (a new id answers NotFound for a moment).
    await onceVisible(() => ec2.send(new DescribeSnapshotsCommand({ SnapshotIds: [snapshot.SnapshotId!] })));

    clients = createStepClients({ credentials: credentialsForAccount(account.id) });
    const restoreId = 'kms-failure-test';
    const failure = await restoreInstance(
      {
        restoreId,
        mode: 'same-account',
        region: REGION,
        sourceAccountId: account.id,
        targetAccountId: account.id,
        restorePointId: 'rp-test',
        targetKmsKeyId: keyArn,
        instance: { powerOn: false },
        restorePoint: { instanceType: 't3.micro', rootDeviceName: '/dev/xvda', architecture: 'x86_64' },
        volumes: ['/dev/xvdb'],
      },
      [
        {
          deviceName: '/dev/xvdb',
          snapshotId: snapshot.SnapshotId ?? '',
          kmsKeyId: '',
          sizeGiB: 1,
          volumeType: 'gp3',
          bytesWritten: 2 ** 30,
        },
      ],
      { clients, checkpoint: async () => {} },
    ).then(
      () => null,
      (error: unknown) => error,
    );

    expect(failure).toBeInstanceOf(PermanentStepError);
    const error = failure as PermanentStepError;
    expect(error.category).toBe('kms');
    expect(error.code).toBe('volume_creation_failed');
    expect(error.message).toContain(keyArn);
    expect(error.message).toContain(`arn:aws:iam::${account.id}:root`);
    expect(error.message).toMatch(/disappeared after CreateVolume/);
    // Nothing left behind by the step.
    const { Volumes = [] } = await ec2.send(
      new DescribeVolumesCommand({ Filters: [{ Name: 'tag:ec2-restore:restore-id', Values: [restoreId] }] }),
    );
    expect(Volumes).toEqual([]);
  });
});
