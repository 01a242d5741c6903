import {
  CreateSnapshotCommand,
  CreateVolumeCommand,
  DescribeSnapshotsCommand,
  DescribeVolumesCommand,
} from '@aws-sdk/client-ec2';
import { credentialsForAccount, onceVisible } from '@ec2-restore/local-aws';
import {
  createStepClients,
  PermanentStepError,
  restoreInstance,
  type StepClients,
} from '@ec2-restore/pipeline';
import { afterEach, describe, expect, it } from 'vitest';
import {
  createKey,
  instanceJobInput,
  keyPolicy,
  newAccount,
  snapshotJobResult,
  ZONE,
} from '../support/index.ts';

// The instance step called directly (no queue): a step function takes its clients as arguments.

describe('instance step: KMS failure after CreateVolume (docs/architecture.md#what-the-emulator-adds-to-moto)', () => {
  let clients: StepClients | undefined;
  afterEach(() => clients?.destroy());

  it('a volume whose key the caller may describe but not use disappears: kms error naming the key and the principal', async () => {
    const account = newAccount();
    const { ec2 } = account.aws;
    // A key the account may only describe: CreateVolume is accepted, the volume then fails.
    const { Arn: keyArn } = await createKey(
      account,
      keyPolicy({
        Effect: 'Allow',
        Principal: { AWS: account.rootArn },
        Action: ['kms:DescribeKey', 'kms:PutKeyPolicy', 'kms:GetKeyPolicy'],
      }),
    );
    const source = await ec2.send(new CreateVolumeCommand({ AvailabilityZone: ZONE, Size: 1 }));
    const snapshot = await onceVisible(() =>
      ec2.send(new CreateSnapshotCommand({ VolumeId: source.VolumeId })),
    );
    // As the snapshot step hands over only snapshots it has seen (a new id answers NotFound for a moment).
    await onceVisible(() => ec2.send(new DescribeSnapshotsCommand({ SnapshotIds: [snapshot.SnapshotId!] })));

    clients = createStepClients({ credentials: credentialsForAccount(account.id) });
    const restoreId = 'kms-failure-test';
    const failure = await restoreInstance(
      instanceJobInput(account.id, keyArn, restoreId, { volumes: ['/dev/xvdb'] }),
      [snapshotJobResult('/dev/xvdb', snapshot.SnapshotId ?? '')],
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
