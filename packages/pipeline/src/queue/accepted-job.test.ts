import { JobName, type RestorePointShape, restoreRequestSchema } from '@ec2-restore/contracts';
import type { Restore } from '@ec2-restore/restore-state';
import { describe, expect, it } from 'vitest';
import { buildRestoreFlow } from '../restore-flow.ts';
import { testRestorePoint } from '../test-restore-point.ts';
import { assertJobAccepted, jobMismatches } from './accepted-job.ts';

const GIB = 2 ** 30;
const request = restoreRequestSchema.parse({
  restorePointId: 'rp-1',
  target: {
    accountId: '222222222222',
    region: 'eu-west-1',
    kmsKeyId: 'alias/target',
    roleArn: 'arn:aws:iam::222222222222:role/Restore',
    externalId: 'ext-1',
  },
  instance: { subnetId: 'subnet-0123456789abcdef0' },
  kmsGrant: 'auto',
});
// Two volumes: /dev/xvda and /dev/xvdb.
const restorePoint: RestorePointShape = {
  ...testRestorePoint,
  volumes: testRestorePoint.volumes.slice(0, 2),
};
const restore: Restore = {
  id: 'r-1',
  status: 'running',
  mode: 'cross-account',
  createdAt: '',
  updatedAt: '',
  request,
  steps: [],
  progress: {
    bytesTotal: 10 * GIB,
    bytesDone: 0,
    volumes: restorePoint.volumes.map((v) => ({
      deviceName: v.deviceName,
      bytesTotal: v.sizeGiB * GIB,
      bytesDone: 0,
      phase: 'write' as const,
      bytesVerified: 0,
    })),
  },
  result: null,
  error: null,
};

/** Every job of the flow the API adds for `restore`, as name and data. */
function flowJobs() {
  const jobs: { name: string; data: Record<string, unknown> }[] = [];
  const visit = (node: ReturnType<typeof buildRestoreFlow>) => {
    jobs.push({ name: node.name, data: node.data as Record<string, unknown> });
    for (const child of node.children ?? []) visit(child);
  };
  visit(
    buildRestoreFlow(
      { id: restore.id, mode: restore.mode, request },
      { restorePoint, sourceAccountId: '111111111111' },
    ),
  );
  return jobs;
}

describe('jobMismatches: a job must be what the API accepted', () => {
  it('accepts every job of the flow the API built', () => {
    const jobs = flowJobs();
    expect(jobs.map((j) => j.name).sort()).toEqual(['instance', 'share', 'snapshot', 'snapshot']);
    for (const job of jobs) expect(jobMismatches(job.name, job.data, restore), job.name).toEqual([]);
  });

  it.each([
    ['share', { targetAccountId: '999999999999' }, 'share.targetAccountId'],
    ['share', { roleArn: 'arn:aws:iam::999999999999:role/Evil' }, 'share.roleArn'],
    ['share', { kmsGrant: 'auto', externalId: 'other' }, 'share.externalId'],
    ['share', { region: 'us-east-1' }, 'share.region'],
    ['share', { mode: 'same-account' }, 'share.mode'],
    ['share', { sourceAccountId: '222222222222' }, 'its own source account'],
    ['snapshot', { targetKmsKeyId: 'alias/other' }, 'snapshot.targetKmsKeyId'],
    ['snapshot', { dataPath: 'worker-volume' }, 'snapshot.dataPath'],
    ['snapshot', { verify: true }, 'snapshot.verify'],
    // Writing with the source default key instead of the transfer key (or the other way round).
    ['snapshot', { transferKey: true }, 'snapshot.transferKey'],
    ['share', { transferKey: true }, 'share.transferKey'],
    [
      'snapshot',
      { volume: { deviceName: '/dev/xvdz', sizeGiB: 8, volumeType: 'gp3' } },
      'not a volume of the restore',
    ],
    [
      'snapshot',
      { volume: { deviceName: '/dev/xvda', sizeGiB: 16000, volumeType: 'gp3' } },
      'snapshot.volume.sizeGiB',
    ],
    ['instance', { instance: { subnetId: 'subnet-0aaaaaaaaaaaaaaaa', powerOn: false } }, 'instance.instance'],
    ['instance', { volumes: ['/dev/xvda'] }, 'instance.volumes'],
    ['instance', { restorePointId: 'rp-2' }, 'instance.restorePointId'],
  ])('refuses a %s job with %j', (name, change, problem) => {
    const job = flowJobs().find((j) => j.name === name);
    const data = { ...job?.data, ...change };
    expect(jobMismatches(name, data, restore).join('\n')).toContain(problem);
    expect(() => assertJobAccepted(name, data, restore)).toThrow(/not what the API accepted/);
  });

  it('refuses a job name the flow does not have, and a record without a valid request', () => {
    expect(jobMismatches('other', {}, restore).join()).toContain('not a job of the restore flow');
    expect(jobMismatches(JobName.Share, {}, { ...restore, request: {} })).toEqual([
      'the restore record of r-1 holds no valid request',
    ]);
  });

  it('the refusal is permanent (no retry) with code job_refused', () => {
    try {
      assertJobAccepted(
        'share',
        { ...flowJobs().find((j) => j.name === 'share')?.data, targetAccountId: '999999999999' },
        restore,
      );
    } catch (error) {
      expect(error).toMatchObject({
        code: 'job_refused',
        category: 'permission',
        name: 'PermanentStepError',
      });
      return;
    }
    throw new Error('expected a refusal');
  });
});
