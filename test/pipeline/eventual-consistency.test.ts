import {
  CreateSnapshotCommand,
  CreateVolumeCommand,
  DescribeSnapshotsCommand,
  DescribeVolumesCommand,
} from '@aws-sdk/client-ec2';
import { createAwsClients } from '@ec2-restore/aws-clients';
import { credentialsForAccount, onceVisible } from '@ec2-restore/local-aws';
import { createStepClients, restoreInstance, type StepClients } from '@ec2-restore/pipeline';
import { afterEach, describe, expect, it } from 'vitest';
import { type FaultProxy, startFaultProxy } from '../support/fault-proxy.ts';
import {
  type Account,
  createKey,
  defaultSubnet,
  instanceJobInput,
  newAccount,
  REGION,
  snapshotJobResult,
} from '../support/index.ts';

/*
 * EC2 is eventually consistent: a volume or instance id CreateVolume / RunInstances just returned may
 * answer InvalidVolume.NotFound / InvalidInstanceID.NotFound for a while
 * (https://docs.aws.amazon.com/ec2/latest/devguide/eventual-consistency.html). The instance step runs
 * through a proxy that hides new ids for a few seconds, as AWS may; it must wait, not report the
 * volume as failed for KMS reasons.
 */

const INVISIBLE_MS = 4_000;

describe('instance step: new ids that are not visible yet', () => {
  const opened: Array<{ destroy(): void }> = [];
  let proxy: FaultProxy | undefined;
  afterEach(async () => {
    for (const item of opened.splice(0)) item.destroy();
    await proxy?.close();
  });

  async function world(): Promise<{
    account: Account;
    clients: StepClients;
    keyArn: string;
    snapshot: string;
  }> {
    const account = newAccount();
    const keyArn = (await createKey(account)).Arn;
    const { zone } = await defaultSubnet(account);
    const source = await account.aws.ec2.send(new CreateVolumeCommand({ AvailabilityZone: zone, Size: 1 }));
    const snapshot = await onceVisible(() =>
      account.aws.ec2.send(new CreateSnapshotCommand({ VolumeId: source.VolumeId })),
    );
    // As the snapshot step hands over only snapshots it has seen (a new id answers NotFound for a moment).
    await onceVisible(() =>
      account.aws.ec2.send(new DescribeSnapshotsCommand({ SnapshotIds: [snapshot.SnapshotId!] })),
    );
    proxy = await startFaultProxy({
      target: process.env.AWS_ENDPOINT_URL!,
      faultRate: 0,
      newIdsInvisibleMs: INVISIBLE_MS,
    });
    const clients = createStepClients({
      credentials: credentialsForAccount(account.id),
      endpoint: proxy.endpoint,
    });
    opened.push(clients);
    return { account, clients, keyArn, snapshot: snapshot.SnapshotId ?? '' };
  }

  it('a volume invisible for a few seconds after CreateVolume is waited for: the restore succeeds', async () => {
    const { account, clients, keyArn, snapshot } = await world();
    const restoreId = `ec-volume-${Date.now()}`;
    const result = await restoreInstance(
      { ...instanceJobInput(account.id, keyArn, restoreId), volumes: ['/dev/xvdb'] },
      [snapshotJobResult('/dev/xvdb', snapshot)],
      { clients, checkpoint: async () => {} },
    );
    expect(proxy!.counts().hiddenNewIds.DescribeVolumes ?? 0).toBeGreaterThan(0);
    expect(result.volumes).toHaveLength(1);
    const { Volumes = [] } = await account.aws.ec2.send(
      new DescribeVolumesCommand({ VolumeIds: [result.volumes[0]!.volumeId] }),
    );
    expect(Volumes[0]).toMatchObject({ State: 'available', Encrypted: true, KmsKeyId: keyArn });
  });

  it('an instance invisible for a few seconds after RunInstances is waited for: the instance is restored', async () => {
    const { account, clients, keyArn, snapshot } = await world();
    const restoreId = `ec-instance-${Date.now()}`;
    const result = await restoreInstance(
      instanceJobInput(account.id, keyArn, restoreId),
      [snapshotJobResult('/dev/xvda', snapshot)],
      {
        clients,
        checkpoint: async () => {},
      },
    ).catch(async (error: unknown) => {
      // A wait handed back to the queue: run the step again, as the queue would.
      if ((error as Error).name !== 'StepPendingError') throw error;
      return restoreInstance(
        instanceJobInput(account.id, keyArn, restoreId),
        [snapshotJobResult('/dev/xvda', snapshot)],
        {
          clients,
          checkpoint: async () => {},
        },
      );
    });
    expect(proxy!.counts().hiddenNewIds.DescribeInstances ?? 0).toBeGreaterThan(0);
    expect(result.instanceId).toMatch(/^i-/);
    expect(result.volumes.map((v) => v.deviceName)).toEqual(['/dev/xvda']);
    const check = createAwsClients({ region: REGION, credentials: credentialsForAccount(account.id) });
    opened.push(check);
    const { Volumes = [] } = await check.ec2.send(
      new DescribeVolumesCommand({ VolumeIds: [result.volumes[0]!.volumeId] }),
    );
    expect(Volumes[0]?.Attachments?.[0]).toMatchObject({
      InstanceId: result.instanceId,
      Device: '/dev/xvda',
    });
  });
});
