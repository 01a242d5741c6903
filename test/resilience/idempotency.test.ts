import { randomUUID } from 'node:crypto';
import { DescribeInstancesCommand } from '@aws-sdk/client-ec2';
import type { Restore } from '@ec2-restore/restore-state';
import { describe, expect, it } from 'vitest';
import { worldPerTest } from '../support/index.ts';

const openWorld = worldPerTest();

describe('Idempotency-Key end to end (issue 6, docs/architecture.md#services-and-queues)', {
  timeout: 300_000,
}, () => {
  it('the same POST with the same key twice at once, and again after it ended: one restore, one instance', async () => {
    const w = await openWorld({ accounts: 'cross', devices: ['/dev/xvda'], api: true });
    w.startWorkers(['snapshot-worker', 'share-worker', 'instance-worker']);
    const body = w.request({
      instance: { name: 'restored-once', subnetId: w.targetSubnetId, powerOn: true },
    });
    const headers = { 'Idempotency-Key': `e2e-${randomUUID()}` };

    // Both requests race through the pre-flight checks; the store lets one of them create the restore.
    const answers = await Promise.all([w.postRestore(body, headers), w.postRestore(body, headers)]);
    for (const a of answers) expect(a.status, JSON.stringify(a.restore)).toBe(202);
    const id = answers[0]?.restore.id ?? '';
    expect(answers[1]?.restore.id).toBe(id);

    const list = (await (await w.api.call('/v1/restores')).json()) as { restores: Restore[] };
    expect(list.restores.map((r) => r.id)).toEqual([id]);

    const restore = await w.waitForEnd(id, 200_000);
    expect(restore.status, w.output()).toBe('succeeded');

    // Asked again after the end: the same restore, nothing new started.
    const again = await w.postRestore(body, headers);
    expect(again.status).toBe(202);
    expect(again.restore).toMatchObject({ id, status: 'succeeded' });
    await new Promise((r) => setTimeout(r, 2_000));
    const listAfter = (await (await w.api.call('/v1/restores')).json()) as { restores: Restore[] };
    expect(listAfter.restores.map((r) => r.id)).toEqual([id]);

    // The target account (fresh) holds exactly one instance, the restore's, with its one volume.
    const { Reservations = [] } = await w.target.aws.ec2.send(new DescribeInstancesCommand({}));
    const instances = Reservations.flatMap((r) => r.Instances ?? []).filter(
      (i) => i.State?.Name !== 'terminated',
    );
    expect(instances.map((i) => i.InstanceId)).toEqual([restore.result?.instanceId]);
    const left = await w.census([id]);
    expect(left.targetVolumes.map((v) => v.Attachments?.[0]?.InstanceId)).toEqual([
      restore.result?.instanceId,
    ]);
    expect(left.sourceSnapshots).toEqual([]);
  });
});
