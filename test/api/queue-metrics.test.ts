import { describe, expect, it } from 'vitest';
import { apiPerFile } from '../support/index.ts';

const api = apiPerFile();

function sample(text: string, name: string, labels: string): number | undefined {
  const line = text.split('\n').find((candidate) => candidate.startsWith(`${name}{${labels}} `));
  return line === undefined ? undefined : Number(line.split(' ').at(-1));
}

describe('queue metrics', () => {
  it('report each queue by state and the age of its oldest waiting job', async () => {
    const snapshot = api.queues.find((queue) => queue.name === 'restore.snapshot')!;
    const share = api.queues.find((queue) => queue.name === 'restore.share')!;
    // Two waiting jobs, the older one 90 s old; one delayed (waiting for AWS).
    await snapshot.add('snapshot', {}, { jobId: 'old', timestamp: Date.now() - 90_000 });
    await snapshot.add('snapshot', {}, { jobId: 'new' });
    await snapshot.add('snapshot', {}, { jobId: 'later', delay: 60_000 });

    const text = await (await api.call('/metrics')).text();
    expect(sample(text, 'ec2restore_queue_jobs', 'queue="restore.snapshot",state="wait"')).toBe(2);
    expect(sample(text, 'ec2restore_queue_jobs', 'queue="restore.snapshot",state="delayed"')).toBe(1);
    expect(sample(text, 'ec2restore_queue_jobs', 'queue="restore.share",state="wait"')).toBe(0);
    const oldest = sample(text, 'ec2restore_queue_oldest_waiting_seconds', 'queue="restore.snapshot"');
    expect(oldest).toBeGreaterThanOrEqual(90);
    expect(oldest).toBeLessThan(120);
    expect(sample(text, 'ec2restore_queue_oldest_waiting_seconds', `queue="${share.name}"`)).toBe(0);
  });
});
