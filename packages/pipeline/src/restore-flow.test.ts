import { restoreRequestSchema } from '@ec2-restore/contracts';
import { describe, expect, it } from 'vitest';
import { buildRestoreFlow, type FlowRestore } from './restore-flow.ts';
import { testRestorePoint } from './test-restore-point.ts';

const restorePoint = testRestorePoint;

function restoreOf(target: Record<string, unknown>, extra: Record<string, unknown> = {}): FlowRestore {
  const request = restoreRequestSchema.parse({
    restorePointId: 'rp-1',
    target: { region: 'eu-west-1', kmsKeyId: 'alias/target', ...target },
    instance: { subnetId: 'subnet-0123456789abcdef0' },
    ...extra,
  });
  const mode = target['roleArn'] ? 'cross-account' : 'same-account';
  return { id: 'r-123', mode, request };
}

describe('buildRestoreFlow', () => {
  it('same account: the instance job is the parent of one snapshot job per volume', () => {
    const flow = buildRestoreFlow(restoreOf({ accountId: '111111111111' }), {
      restorePoint,
      sourceAccountId: '111111111111',
    });
    expect(flow.queueName).toBe('restore.instance');
    expect(flow.opts?.jobId).toBe('r-123.instance');
    expect(flow.children?.map((c) => [c.queueName, c.opts?.jobId])).toEqual([
      ['restore.snapshot', 'r-123.snapshot.xvda'],
      ['restore.snapshot', 'r-123.snapshot.xvdb'],
      ['restore.snapshot', 'r-123.snapshot.xvdc'],
    ]);
    expect(flow.children?.every((c) => c.opts?.failParentOnFailure === true)).toBe(true);
    expect(flow.children?.[2]?.data.volume).toMatchObject({ deviceName: '/dev/xvdc', iops: 3000 });
  });

  it('another account: instance -> share -> snapshots, and no job id contains ":"', () => {
    const flow = buildRestoreFlow(
      restoreOf(
        { accountId: '222222222222', roleArn: 'arn:aws:iam::222222222222:role/Restore' },
        { kmsGrant: 'auto' },
      ),
      { restorePoint, sourceAccountId: '111111111111' },
    );
    const share = flow.children?.[0];
    expect(flow.children).toHaveLength(1);
    expect(share?.queueName).toBe('restore.share');
    expect(share?.data).toMatchObject({ kmsGrant: 'auto', targetAccountId: '222222222222' });
    expect(share?.children).toHaveLength(3);
    const ids = [flow, share, ...(share?.children ?? [])].map((j) => String(j?.opts?.jobId));
    expect(ids.some((id) => id.includes(':'))).toBe(false);
  });

  it('volume-level restore: only the named volumes get a snapshot job', () => {
    const flow = buildRestoreFlow(restoreOf({ accountId: '111111111111' }, { volumes: ['/dev/xvdb'] }), {
      restorePoint,
      sourceAccountId: '111111111111',
    });
    expect(flow.children?.map((c) => c.data.volume.deviceName)).toEqual(['/dev/xvdb']);
    expect(flow.data.volumes).toEqual(['/dev/xvdb']);
  });

  it('a device name that is not in the restore point names it and the ones that are', () => {
    expect(() =>
      buildRestoreFlow(restoreOf({ accountId: '111111111111' }, { volumes: ['/dev/xvdz'] }), {
        restorePoint,
        sourceAccountId: '111111111111',
      }),
    ).toThrow(
      /\/dev\/xvdz is not a volume of restore point rp-1 \(it has \/dev\/xvda, \/dev\/xvdb, \/dev\/xvdc\)/,
    );
  });
});
