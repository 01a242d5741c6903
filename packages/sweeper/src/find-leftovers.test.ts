import { RestoreTag } from '@ec2-restore/contracts';
import type { RestoreStatus } from '@ec2-restore/restore-state';
import { describe, expect, it } from 'vitest';
import { findLeftovers, type TaggedResource } from './find-leftovers.ts';

const NOW = new Date('2026-11-27T12:00:00Z');
const minutesAgo = (m: number) => new Date(NOW.getTime() - m * 60_000);

function resource(
  overrides: Partial<TaggedResource> & { step?: string; restoreId?: string },
): TaggedResource {
  const { step = 'snapshot', restoreId = 'r-1', ...rest } = overrides;
  return {
    kind: 'volume',
    id: `vol-${Math.random().toString(16).slice(2, 10)}`,
    accountId: '111111111111',
    region: 'eu-west-1',
    tags: { [RestoreTag.RestoreId]: restoreId, [RestoreTag.Step]: step },
    createdAt: minutesAgo(120),
    state: 'available',
    ...rest,
  };
}

function plan(
  resources: TaggedResource[],
  statuses: Record<string, RestoreStatus | null>,
  minAgeMinutes = 60,
) {
  return findLeftovers({ resources, statuses: new Map(Object.entries(statuses)), now: NOW, minAgeMinutes });
}

describe('findLeftovers', () => {
  it.each(['succeeded', 'failed', 'cancelled'] as const)(
    'removes temporary resources of a %s restore',
    (status) => {
      const snapshot = resource({ kind: 'snapshot', id: 'snap-1', step: 'snapshot' });
      const workerVolume = resource({ step: 'snapshot' });
      const launchRoot = resource({ step: 'instance-launch-root' });
      // register-image: the temporary image and the target-owned copy of the root snapshot.
      const image = resource({ kind: 'image', id: 'ami-1', step: 'instance-image' });
      const rootCopy = resource({ kind: 'snapshot', id: 'snap-copy', step: 'instance-image' });
      const all = [snapshot, workerVolume, launchRoot, image, rootCopy];
      const result = plan(all, { 'r-1': status });
      expect(result.remove.map((p) => p.resource)).toEqual(all);
      expect(result.remove.every((p) => p.restoreStatus === status && p.restoreId === 'r-1')).toBe(true);
      expect(result.skip).toEqual([]);
    },
  );

  it('removes temporary resources of a restore the store does not know', () => {
    const volume = resource({ restoreId: 'gone' });
    const result = plan([volume], {});
    expect(result.remove).toEqual([{ resource: volume, restoreId: 'gone', restoreStatus: null }]);
  });

  it.each(['queued', 'running', 'cancelling'] as const)('keeps everything of a %s restore', (status) => {
    const result = plan([resource({}), resource({ kind: 'snapshot', id: 'snap-2' })], { 'r-1': status });
    expect(result.remove).toEqual([]);
    expect(result.skip.map((s) => s.reason)).toEqual(['restore-in-progress', 'restore-in-progress']);
  });

  it('keeps resources younger than the minimum age, and those of unknown age', () => {
    const young = resource({ createdAt: minutesAgo(59) });
    const undated = resource({ createdAt: undefined });
    const old = resource({ createdAt: minutesAgo(61) });
    const result = plan([young, undated, old], { 'r-1': 'failed' }, 60);
    expect(result.remove.map((p) => p.resource)).toEqual([old]);
    expect(result.skip.map((s) => [s.resource, s.reason])).toEqual([
      [young, 'too-young'],
      [undated, 'too-young'],
    ]);
  });

  it('never chooses a resource without the restore-id tag', () => {
    const untagged = resource({});
    untagged.tags = { Name: 'my data', [RestoreTag.Step]: 'snapshot' };
    const result = plan([untagged], {}, 0);
    expect(result.remove).toEqual([]);
    expect(result.skip[0]?.reason).toBe('not-tagged-by-a-restore');
  });

  it('never chooses the restored instance volumes, whatever the status', () => {
    const statuses: (RestoreStatus | null)[] = ['succeeded', 'failed', 'cancelled', null];
    for (const status of statuses) {
      const restored = resource({ step: 'instance' });
      const result = plan([restored], status === null ? {} : { 'r-1': status }, 0);
      expect(result.remove).toEqual([]);
      expect(result.skip[0]?.reason).toBe('not-temporary');
    }
  });

  it('keeps resources with an unexpected step tag, or none, and snapshots not made by the snapshot step', () => {
    const noStep = resource({});
    noStep.tags = { [RestoreTag.RestoreId]: 'r-1' };
    const oddSnapshot = resource({ kind: 'snapshot', id: 'snap-3', step: 'instance-launch-root' });
    const oddImage = resource({ kind: 'image', id: 'ami-3', step: 'instance' });
    const result = plan([noStep, oddSnapshot, oddImage, resource({ step: 'share' })], { 'r-1': 'failed' }, 0);
    expect(result.remove).toEqual([]);
    expect(result.skip.map((s) => s.reason)).toEqual([
      'not-temporary',
      'not-temporary',
      'not-temporary',
      'not-temporary',
    ]);
  });

  it('leaves resources already being deleted', () => {
    const result = plan([resource({ state: 'deleting' })], { 'r-1': 'failed' });
    expect(result.remove).toEqual([]);
    expect(result.skip[0]?.reason).toBe('being-deleted');
  });
});
