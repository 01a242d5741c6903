import { DisableKeyCommand } from '@aws-sdk/client-kms';
import { jobIdFor, QueueName } from '@ec2-restore/contracts';
import { afterEach, describe, expect, it } from 'vitest';
import {
  jobResult,
  removeBackup,
  startWorker,
  type WorkerProcess,
  waitForEnd,
  workerEnv,
} from '../pipeline/harness.ts';
import {
  census,
  cleanupStatus,
  EMPTY_CENSUS,
  openWorld,
  postRestore,
  type ResilienceWorld,
  restoreBody,
  waitUntil,
} from './world.ts';

describe('target key disabled between POST and the instance step (issue 6, docs/architecture.md#the-public-interface)', () => {
  let w: ResilienceWorld | undefined;
  const workers: WorkerProcess[] = [];

  afterEach(async () => {
    await Promise.all(workers.splice(0).map((p) => p.stop()));
    await w?.close();
    await removeBackup(w?.backup);
  });

  it('the restore fails with category kms naming the key; cleanup ran; nothing left in either account', {
    timeout: 300_000,
  }, async () => {
    w = await openWorld();
    const env = workerEnv(w.pipeline, w.world.source, w.backup);
    // No instance worker yet: the restore stops in front of the instance step.
    workers.push(startWorker('snapshot-worker', env), startWorker('share-worker', env));

    const { status, restore: accepted } = await postRestore(w, restoreBody(w));
    expect(status, JSON.stringify(accepted)).toBe(202);
    const id = accepted.id;
    await jobResult(w.pipeline, QueueName.Share, jobIdFor(id, 'share'), workers);

    // The pre-flight checks passed with the key enabled; now it is disabled.
    await w.world.target.aws.kms.send(new DisableKeyCommand({ KeyId: w.world.targetKey }));
    workers.push(startWorker('instance-worker', env));

    const restore = await waitForEnd(w.pipeline.store, id, 200_000);
    const logs = workers.map((p) => p.output()).join('\n');
    expect(restore.status, logs).toBe('failed');
    expect(restore.error).toMatchObject({ category: 'kms', step: 'instance' });
    const keyId = w.world.targetKey.split('/').at(-1) ?? '';
    expect(restore.error?.message).toContain(keyId);
    // `failed` is set as the instance step fails; the cleanup step runs after it and is shown in steps.
    const cleaned = await waitUntil(
      w,
      id,
      (r) => cleanupStatus(r) !== 'pending' && cleanupStatus(r) !== 'running',
    );
    expect(cleanupStatus(cleaned), workers.map((p) => p.output()).join('\n')).toBe('succeeded');
    expect(cleaned.status).toBe('failed');

    expect(await census(w, [id])).toEqual(EMPTY_CENSUS);
  });
});
