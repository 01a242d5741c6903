import { DisableKeyCommand } from '@aws-sdk/client-kms';
import { jobIdFor, QueueName } from '@ec2-restore/contracts';
import { describe, expect, it } from 'vitest';
import { EMPTY_CENSUS, stepStatus, worldPerTest } from '../support/index.ts';

const openWorld = worldPerTest();

describe('target key disabled between POST and the instance step (issue 6, docs/architecture.md#the-public-interface)', {
  timeout: 300_000,
}, () => {
  it('the restore fails with category kms naming the key; cleanup ran; nothing left in either account', async () => {
    const w = await openWorld({ accounts: 'cross', devices: ['/dev/xvda'], api: true });
    // No instance worker yet: the restore stops in front of the instance step.
    w.startWorkers(['snapshot-worker', 'share-worker']);

    const { status, restore: accepted } = await w.postRestore(
      w.request({ instance: { name: 'restored', subnetId: w.targetSubnetId, powerOn: true } }),
    );
    expect(status, JSON.stringify(accepted)).toBe(202);
    const id = accepted.id;
    await w.jobResult(QueueName.Share, jobIdFor(id, 'share'));

    // The pre-flight checks passed with the key enabled; now it is disabled.
    await w.target.aws.kms.send(new DisableKeyCommand({ KeyId: w.targetKey }));
    w.startWorkers(['instance-worker']);

    const restore = await w.waitForEnd(id, 200_000);
    const logs = w.output();
    expect(restore.status, logs).toBe('failed');
    expect(restore.error).toMatchObject({ category: 'kms', step: 'instance' });
    const keyId = w.targetKey.split('/').at(-1) ?? '';
    expect(restore.error?.message).toContain(keyId);
    // `failed` is set as the instance step fails; the cleanup step runs after it and is shown in steps.
    const cleaned = await w.waitUntil(id, (r) =>
      ['succeeded', 'failed', 'skipped', 'cancelled'].includes(stepStatus(r, 'cleanup') ?? ''),
    );
    expect(stepStatus(cleaned, 'cleanup'), w.output()).toBe('succeeded');
    expect(cleaned.status).toBe('failed');

    expect(await w.census([id])).toEqual(EMPTY_CENSUS);
  });
});
