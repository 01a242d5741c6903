import { DescribeSnapshotsCommand } from '@aws-sdk/client-ec2';
import { ListGrantsCommand } from '@aws-sdk/client-kms';
import { jobIdFor, QueueName } from '@ec2-restore/contracts';
import { Queue } from 'bullmq';
import { describe, expect, it } from 'vitest';
import { createRestoreRole, newAccount, snapshotsOf, worldPerTest } from '../support/index.ts';

// The attack of the security review: an accepted cross-account restore whose queued share job is
// edited (here through Bull Board, as an admin could; the same as writing the job hash in Redis) to
// share the snapshots with another account and grant that account's role the source default key.

const openWorld = worldPerTest();

describe('a queued job edited after the API accepted it', { timeout: 300_000 }, () => {
  it('share job redirected to another account and role: refused, nothing shared or granted, the restore fails saying why, cleanup removes the snapshots', async () => {
    const world = await openWorld({ accounts: 'cross', devices: ['/dev/xvda'], api: true });
    const { source, api, pipeline } = world;
    const attacker = newAccount();
    const attackerRole = await createRestoreRole(attacker, source.id, 'attacker');
    // No share worker yet: the share job waits in the queue for the edit.
    world.startWorkers(['snapshot-worker', 'instance-worker']);

    const { status, restore: accepted } = await world.postRestore(world.request());
    expect(status, JSON.stringify(accepted)).toBe(202);
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

    world.startWorkers(['share-worker']);
    const restore = await world.waitForEnd(id, 120_000);
    const logs = world.output();
    expect(restore.status, logs).toBe('failed');
    expect(restore.error).toMatchObject({ code: 'job_refused', category: 'permission', step: 'share' });
    expect(restore.error?.message).toContain('not what the API accepted');
    expect(restore.error?.message).toContain(attacker.id);
    expect(restore.error?.message).toContain(world.target.id);
    // The share worker's log line may reach this process after the restore's end is visible in Redis.
    await expect.poll(() => world.output(), { timeout: 10_000, interval: 100 }).toContain('job refused');

    // Nothing was shared with the attacker (nor anyone), no grant on the source default key exists.
    const restorable = await attacker.aws.ec2.send(
      new DescribeSnapshotsCommand({ RestorableByUserIds: ['self'], OwnerIds: [source.id] }),
    );
    expect(restorable.Snapshots ?? []).toEqual([]);
    const grants = await source.aws.kms.send(new ListGrantsCommand({ KeyId: world.sourceDefaultKey ?? '' }));
    expect(grants.Grants ?? []).toEqual([]);

    // The restore's other (accepted) work is cleaned up with the target from the record.
    await expect
      .poll(async () => (await snapshotsOf(source.aws.ec2, [id])).length, { timeout: 60_000, interval: 250 })
      .toBe(0);
  });
});
