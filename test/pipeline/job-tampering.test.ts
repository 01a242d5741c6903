import { DescribeSnapshotsCommand } from '@aws-sdk/client-ec2';
import { ListGrantsCommand } from '@aws-sdk/client-kms';
import { jobIdFor, QueueName, RestoreTag } from '@ec2-restore/contracts';
import type { Restore } from '@ec2-restore/restore-state';
import { Queue } from 'bullmq';
import { afterEach, describe, expect, it } from 'vitest';
import { type ApiServer, startApiServer } from './api-server.ts';
import {
  type Account,
  type Backup,
  type CrossAccountWorld,
  createBackup,
  createRestoreRole,
  crossAccountWorld,
  newAccount,
  openPipeline,
  type Pipeline,
  REGION,
  removeBackup,
  startWorker,
  type WorkerProcess,
  waitForEnd,
  workerEnv,
} from './harness.ts';

// The attack of the security review: an accepted cross-account restore whose queued share job is
// edited (here through Bull Board, as an admin could; the same as writing the job hash in Redis) to
// share the snapshots with another account and grant that account's role the source default key.

describe('a queued job edited after the API accepted it', () => {
  let pipeline: Pipeline | undefined;
  let backup: Backup | undefined;
  let world: CrossAccountWorld | undefined;
  let attacker: Account | undefined;
  let api: ApiServer | undefined;
  const workers: WorkerProcess[] = [];

  afterEach(async () => {
    await Promise.all(workers.splice(0).map((w) => w.stop()));
    await api?.close();
    await pipeline?.close();
    world?.source.aws.destroy();
    world?.target.aws.destroy();
    attacker?.aws.destroy();
    await removeBackup(backup);
  });

  it('share job redirected to another account and role: refused, nothing shared or granted, the restore fails saying why, cleanup removes the snapshots', {
    timeout: 300_000,
  }, async () => {
    pipeline = openPipeline();
    backup = await createBackup(['/dev/xvda']);
    world = await crossAccountWorld();
    attacker = newAccount();
    const attackerRole = await createRestoreRole(attacker, world.source.id, 'attacker');
    const { source } = world;
    api = await startApiServer(pipeline, backup, source.id);
    const env = workerEnv(pipeline, source, backup);
    // No share worker yet: the share job waits in the queue for the edit.
    workers.push(startWorker('snapshot-worker', env), startWorker('instance-worker', env));

    const response = await api.call('/v1/restores', {
      method: 'POST',
      json: {
        restorePointId: backup.restorePoint.id,
        target: {
          accountId: world.target.id,
          region: REGION,
          roleArn: world.roleArn,
          externalId: world.externalId,
          kmsKeyId: world.targetKey,
        },
        instance: { subnetId: world.targetSubnetId },
        kmsGrant: 'auto',
      },
    });
    const accepted = (await response.json()) as Restore;
    expect(response.status, JSON.stringify(accepted)).toBe(202);
    const id = accepted.id;

    const shareQueue = new Queue(QueueName.Share, {
      connection: pipeline.redis,
      prefix: pipeline.queuePrefix,
    });
    const shareJobId = jobIdFor(id, 'share');
    try {
      await expect
        .poll(async () => (await shareQueue.getJob(shareJobId))?.getState(), {
          timeout: 200_000,
          interval: 250,
        })
        .toBe('waiting');
      const original = (await shareQueue.getJob(shareJobId))?.data as Record<string, unknown>;
      const edit = await api.call(`/admin/queues/api/queues/${QueueName.Share}/${shareJobId}/update-data`, {
        method: 'PATCH',
        json: {
          jobData: {
            ...original,
            targetAccountId: attacker.id,
            roleArn: attackerRole,
            externalId: 'attacker',
          },
        },
      });
      expect(edit.status).toBe(200);
      expect((await shareQueue.getJob(shareJobId))?.data).toMatchObject({ targetAccountId: attacker.id });
    } finally {
      await shareQueue.close();
    }

    workers.push(startWorker('share-worker', env));
    const restore = await waitForEnd(pipeline.store, id, 120_000);
    const logs = workers.map((w) => w.output()).join('\n');
    expect(restore.status, logs).toBe('failed');
    expect(restore.error).toMatchObject({ code: 'job_refused', category: 'permission', step: 'share' });
    expect(restore.error?.message).toContain('not what the API accepted');
    expect(restore.error?.message).toContain(attacker.id);
    expect(restore.error?.message).toContain(world.target.id);
    expect(logs).toContain('job refused');

    // Nothing was shared with the attacker (nor anyone), no grant on the source default key exists.
    const restorable = await attacker.aws.ec2.send(
      new DescribeSnapshotsCommand({ RestorableByUserIds: ['self'], OwnerIds: [source.id] }),
    );
    expect(restorable.Snapshots ?? []).toEqual([]);
    const grants = await source.aws.kms.send(new ListGrantsCommand({ KeyId: world.sourceDefaultKey }));
    expect(grants.Grants ?? []).toEqual([]);

    // The restore's other (accepted) work is cleaned up with the target from the record.
    await expect
      .poll(
        async () => {
          const { Snapshots = [] } = await source.aws.ec2.send(
            new DescribeSnapshotsCommand({
              OwnerIds: ['self'],
              Filters: [{ Name: `tag:${RestoreTag.RestoreId}`, Values: [id] }],
            }),
          );
          return Snapshots.length;
        },
        { timeout: 60_000, interval: 500 },
      )
      .toBe(0);
  });
});
