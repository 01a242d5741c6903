import { randomUUID } from 'node:crypto';
import { DescribeInstancesCommand } from '@aws-sdk/client-ec2';
import type { Restore } from '@ec2-restore/restore-state';
import { afterEach, describe, expect, it } from 'vitest';
import { removeBackup, startWorker, type WorkerProcess, waitForEnd, workerEnv } from '../pipeline/harness.ts';
import { census, openWorld, postRestore, type ResilienceWorld, restoreBody } from './world.ts';

describe('Idempotency-Key end to end (issue 6, docs/architecture.md#services-and-queues)', () => {
  let w: ResilienceWorld | undefined;
  const workers: WorkerProcess[] = [];

  afterEach(async () => {
    await Promise.all(workers.splice(0).map((p) => p.stop()));
    await w?.close();
    await removeBackup(w?.backup);
  });

  it('the same POST with the same key twice at once, and again after it ended: one restore, one instance', {
    timeout: 300_000,
  }, async () => {
    w = await openWorld();
    const world = w;
    const env = workerEnv(w.pipeline, w.world.source, w.backup);
    workers.push(
      startWorker('snapshot-worker', env),
      startWorker('share-worker', env),
      startWorker('instance-worker', env),
    );
    const body = restoreBody(w, 'restored-once');
    const headers = { 'Idempotency-Key': `e2e-${randomUUID()}` };

    // Both requests race through the pre-flight checks; the store lets one of them create the restore.
    const answers = await Promise.all([postRestore(w, body, headers), postRestore(w, body, headers)]);
    for (const a of answers) expect(a.status, JSON.stringify(a.restore)).toBe(202);
    const id = answers[0]?.restore.id ?? '';
    expect(answers[1]?.restore.id).toBe(id);

    const list = (await (await w.api.call('/v1/restores')).json()) as { restores: Restore[] };
    expect(list.restores.map((r) => r.id)).toEqual([id]);

    const restore = await waitForEnd(w.pipeline.store, id, 200_000);
    expect(restore.status, workers.map((p) => p.output()).join('\n')).toBe('succeeded');

    // Asked again after the end: the same restore, nothing new started.
    const again = await postRestore(w, body, headers);
    expect(again.status).toBe(202);
    expect(again.restore).toMatchObject({ id, status: 'succeeded' });
    await new Promise((r) => setTimeout(r, 2_000));
    const listAfter = (await (await w.api.call('/v1/restores')).json()) as { restores: Restore[] };
    expect(listAfter.restores.map((r) => r.id)).toEqual([id]);

    // The target account (fresh) holds exactly one instance, the restore's, with its one volume.
    const { Reservations = [] } = await w.world.target.aws.ec2.send(new DescribeInstancesCommand({}));
    const instances = Reservations.flatMap((r) => r.Instances ?? []).filter(
      (i) => i.State?.Name !== 'terminated',
    );
    expect(instances.map((i) => i.InstanceId)).toEqual([restore.result?.instanceId]);
    const left = await census(world, [id]);
    expect(left.targetVolumes.map((v) => v.Attachments?.[0]?.InstanceId)).toEqual([
      restore.result?.instanceId,
    ]);
    expect(left.sourceSnapshots).toEqual([]);
  });
});
