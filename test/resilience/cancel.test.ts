import type { Restore } from '@ec2-restore/restore-state';
import { describe, expect, it, type TestContext } from 'vitest';
import { EMPTY_CENSUS, openWorldOf, stepStatus, type World } from '../support/index.ts';

// The two restores run at once, each in its own world (fresh accounts, queues and workers).
describe.concurrent('cancel a running cross-account restore (issue 6, docs/architecture.md#services-and-queues)', {
  timeout: 300_000,
}, () => {
  /** Starts a restore, cancels it once `step` runs, and returns the restore as the cancel answered it. */
  async function cancelDuring(
    context: TestContext,
    step: string,
  ): Promise<{ w: World; id: string; cancelAnswer: Restore }> {
    const w = await openWorldOf(context, { accounts: 'cross', devices: ['/dev/xvda'], api: true });
    w.startWorkers(['snapshot-worker', 'share-worker', 'instance-worker']);
    const { status, restore } = await w.postRestore(
      w.request({ instance: { name: 'restored', subnetId: w.targetSubnetId, powerOn: true } }),
    );
    expect(status, JSON.stringify(restore)).toBe(202);
    const id = restore.id;
    await w.waitUntil(id, (r) => stepStatus(r, step) === 'running', 150_000, 20);

    // The answer is the record as the API reads it back after marking the restore `cancelling`: the
    // step's worker may already have seen the cancel (at a checkpoint, or its poll) and recorded the
    // step `cancelled` in between (the clean-clone CI saw it once under load).
    const response = await w.api.call(`/v1/restores/${id}/cancel`, { method: 'POST' });
    const cancelAnswer = (await response.json()) as Restore;
    expect(response.status, JSON.stringify(cancelAnswer)).toBe(202);
    expect(cancelAnswer.status).toBe('cancelling');
    return { w, id, cancelAnswer };
  }

  it('during the snapshot step: cancelling, then cancelled; no instance step; nothing left in either account', async (context) => {
    const { w, id, cancelAnswer } = await cancelDuring(context, 'snapshot:/dev/xvda');
    expect(['running', 'cancelled']).toContain(stepStatus(cancelAnswer, 'snapshot:/dev/xvda'));

    const restore = await w.waitForEnd(id, 120_000);
    expect(restore.status, w.output()).toBe('cancelled');
    expect(stepStatus(restore, 'snapshot:/dev/xvda')).toBe('cancelled');
    expect(stepStatus(restore, 'instance')).toBe('pending');
    expect(stepStatus(restore, 'cleanup')).toBe('succeeded');
    expect(await w.census([id])).toEqual(EMPTY_CENSUS);
  });

  it('during the instance step: cancelling, then cancelled; the instance and its volumes are gone; nothing left', async (context) => {
    const { w, id, cancelAnswer } = await cancelDuring(context, 'instance');
    expect(['running', 'cancelled']).toContain(stepStatus(cancelAnswer, 'instance'));

    const restore = await w.waitForEnd(id, 120_000);
    expect(restore.status, w.output()).toBe('cancelled');
    const logs = `${JSON.stringify(restore.steps)}\n${w.output()}`;
    expect(stepStatus(restore, 'cleanup'), logs).toBe('succeeded');
    expect(await w.census([id])).toEqual(EMPTY_CENSUS);
  });
});
