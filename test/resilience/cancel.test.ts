import type { Restore } from '@ec2-restore/restore-state';
import { afterEach, describe, expect, it } from 'vitest';
import { removeBackup, startWorker, type WorkerProcess, waitForEnd, workerEnv } from '../pipeline/harness.ts';
import {
  census,
  EMPTY_CENSUS,
  openWorld,
  postRestore,
  type ResilienceWorld,
  restoreBody,
  waitUntil,
} from './world.ts';

function stepStatus(restore: Restore, name: string): string | undefined {
  return restore.steps.find((s) => s.name === name)?.status;
}

describe('cancel a running cross-account restore (issue 6, docs/architecture.md#services-and-queues)', () => {
  let w: ResilienceWorld | undefined;
  const workers: WorkerProcess[] = [];

  afterEach(async () => {
    await Promise.all(workers.splice(0).map((p) => p.stop()));
    await w?.close();
    await removeBackup(w?.backup);
  });

  /** Starts a restore, cancels it once `step` runs, and returns the restore as the cancel answered it. */
  async function cancelDuring(step: string): Promise<{ id: string; cancelAnswer: Restore }> {
    w = await openWorld();
    const env = workerEnv(w.pipeline, w.world.source, w.backup);
    workers.push(
      startWorker('snapshot-worker', env),
      startWorker('share-worker', env),
      startWorker('instance-worker', env),
    );
    const { status, restore } = await postRestore(w, restoreBody(w));
    expect(status, JSON.stringify(restore)).toBe(202);
    const id = restore.id;
    await waitUntil(w, id, (r) => stepStatus(r, step) === 'running', 150_000, 20);

    const response = await w.api.call(`/v1/restores/${id}/cancel`, { method: 'POST' });
    const cancelAnswer = (await response.json()) as Restore;
    expect(response.status, JSON.stringify(cancelAnswer)).toBe(202);
    expect(cancelAnswer.status).toBe('cancelling');
    return { id, cancelAnswer };
  }

  it('during the snapshot step: cancelling, then cancelled; no instance step; nothing left in either account', {
    timeout: 300_000,
  }, async () => {
    const { id, cancelAnswer } = await cancelDuring('snapshot:/dev/xvda');
    expect(stepStatus(cancelAnswer, 'snapshot:/dev/xvda')).toBe('running');

    const restore = await waitForEnd(w?.pipeline.store ?? never(), id, 120_000);
    expect(restore.status, workers.map((p) => p.output()).join('\n')).toBe('cancelled');
    expect(stepStatus(restore, 'snapshot:/dev/xvda')).toBe('cancelled');
    expect(stepStatus(restore, 'instance')).toBe('pending');
    expect(stepStatus(restore, 'cleanup')).toBe('succeeded');
    expect(await census(w ?? never(), [id])).toEqual(EMPTY_CENSUS);
  });

  it('during the instance step: cancelling, then cancelled; the instance and its volumes are gone; nothing left', {
    timeout: 300_000,
  }, async () => {
    const { id, cancelAnswer } = await cancelDuring('instance');
    expect(stepStatus(cancelAnswer, 'instance')).toBe('running');

    const restore = await waitForEnd(w?.pipeline.store ?? never(), id, 120_000);
    expect(restore.status, workers.map((p) => p.output()).join('\n')).toBe('cancelled');
    const logs = `${JSON.stringify(restore.steps)}\n${workers.map((p) => p.output()).join('\n')}`;
    expect(stepStatus(restore, 'cleanup'), logs).toBe('succeeded');
    expect(await census(w ?? never(), [id])).toEqual(EMPTY_CENSUS);
  });
});

function never(): never {
  throw new Error('the world was not opened');
}
