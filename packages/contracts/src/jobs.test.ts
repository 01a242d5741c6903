import { describe, expect, it } from 'vitest';
import { clientTokenFor, jobContracts, jobDataJsonSchema, jobIdFor } from './jobs.ts';
import { jobNames, jobNamesForQueue, queueForJob, queueNames } from './queues.ts';

describe('queues and job names', () => {
  it('every job has a queue and every queue has at least one job', () => {
    for (const name of jobNames) expect(queueNames).toContain(queueForJob[name]);
    for (const queue of queueNames) expect(jobNamesForQueue(queue).length).toBeGreaterThan(0);
    expect(Object.keys(jobContracts).sort()).toEqual([...jobNames].sort());
  });
});

describe('deterministic ids', () => {
  it('job ids are stable, per device, and never contain ":"', () => {
    expect(jobIdFor('r-1', 'snapshot', '/dev/sda1')).toBe('r-1.snapshot.sda1');
    expect(jobIdFor('r-1', 'share')).toBe('r-1.share');
    expect(() => jobIdFor('r:1', 'share')).toThrow(/contains ":", which BullMQ job ids may not contain/);
  });

  it('client tokens are stable, at most 64 characters, and differ per call', () => {
    const a = clientTokenFor(
      '0b8f9a5e-7c2d-4f0e-9d1a-3c5b7e9f1a2b',
      'snapshot',
      '/dev/xvdb',
      'create-volume',
    );
    expect(a).toBe(
      clientTokenFor('0b8f9a5e-7c2d-4f0e-9d1a-3c5b7e9f1a2b', 'snapshot', '/dev/xvdb', 'create-volume'),
    );
    expect(a.length).toBeLessThanOrEqual(64);
    expect(a).not.toBe(
      clientTokenFor('0b8f9a5e-7c2d-4f0e-9d1a-3c5b7e9f1a2b', 'snapshot', '/dev/xvdc', 'create-volume'),
    );
  });
});

describe('jobDataJsonSchema', () => {
  it('describes the snapshot job input, and both jobs of the instance queue', () => {
    const snapshot = jobDataJsonSchema('restore.snapshot');
    expect(snapshot['type']).toBe('object');
    expect(snapshot['required']).toEqual(expect.arrayContaining(['restoreId', 'volume', 'dataPath']));
    const instance = jobDataJsonSchema('restore.instance');
    expect(instance['anyOf']).toHaveLength(2);
  });
});
