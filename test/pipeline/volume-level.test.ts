import { DescribeInstancesCommand, DescribeVolumesCommand } from '@aws-sdk/client-ec2';
import { afterEach, describe, expect, it } from 'vitest';
import {
  type Account,
  type Backup,
  createBackup,
  createKey,
  launchInstance,
  newAccount,
  openPipeline,
  type Pipeline,
  REGION,
  removeBackup,
  startRestore,
  startWorker,
  type WorkerProcess,
  waitForEnd,
  workerEnv,
} from './harness.ts';

describe('volume-level restore (docs/architecture.md#the-public-interface: `volumes`)', () => {
  let pipeline: Pipeline | undefined;
  let backup: Backup | undefined;
  let source: Account | undefined;
  const workers: WorkerProcess[] = [];

  afterEach(async () => {
    await Promise.all(workers.splice(0).map((w) => w.stop()));
    await pipeline?.close();
    source?.aws.destroy();
    await removeBackup(backup);
  });

  it('one volume into an existing instance: attached at its device name, encrypted with the target key, no new instance', {
    timeout: 600_000,
  }, async () => {
    pipeline = openPipeline();
    backup = await createBackup(['/dev/xvda', '/dev/xvdb']);
    source = newAccount();
    const targetKey = await createKey(source);
    const existing = await launchInstance(source);
    const env = workerEnv(pipeline, source, backup);
    workers.push(startWorker('snapshot-worker', env), startWorker('instance-worker', env));

    const id = await startRestore(
      pipeline,
      {
        restorePointId: backup.restorePoint.id,
        target: { accountId: source.id, region: REGION, kmsKeyId: targetKey },
        instance: { instanceId: existing },
        volumes: ['/dev/xvdb'],
      },
      { restorePoint: backup.restorePoint, sourceAccountId: source.id },
    );
    const restore = await waitForEnd(pipeline.store, id, 400_000);
    expect(restore.status, workers.map((w) => w.output()).join('\n')).toBe('succeeded');
    expect(restore.steps.map((s) => s.name)).toEqual(['snapshot:/dev/xvdb', 'instance', 'cleanup']);
    expect(restore.result?.instanceId).toBe(existing);
    expect(restore.result?.volumes).toHaveLength(1);

    const { Reservations = [] } = await source.aws.ec2.send(new DescribeInstancesCommand({}));
    const instances = Reservations.flatMap((r) => r.Instances ?? []);
    expect(instances.map((i) => i.InstanceId)).toEqual([existing]);
    const attached = instances[0]?.BlockDeviceMappings?.find((m) => m.DeviceName === '/dev/xvdb');
    expect(attached?.Ebs?.VolumeId).toBe(restore.result?.volumes[0]?.volumeId);
    const { Volumes = [] } = await source.aws.ec2.send(
      new DescribeVolumesCommand({ VolumeIds: [attached?.Ebs?.VolumeId ?? ''] }),
    );
    expect(Volumes[0]).toMatchObject({ Encrypted: true, KmsKeyId: targetKey, Size: 1 });
  });
});
