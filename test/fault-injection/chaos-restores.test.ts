/**
 * The small form of `pnpm bench:chaos` (bench/chaos): about ten mixed restores through the API
 * process while workers are SIGKILLed, the API is SIGKILLed once between a 202 and the workers
 * starting, Redis restarts once and 10% of EC2 calls fail. Every check of the bench's report must
 * pass: nothing lost, duplicated or left behind, every restore ended and explained.
 */
import { describe, expect, inject, it } from 'vitest';
import { runChaos } from '../../bench/chaos/scenario.ts';

const RESTORES = Number(process.env.CHAOS_TEST_RESTORES ?? 10);

describe('chaos: restores through worker, API and Redis restarts and EC2 faults (bench/chaos, small)', () => {
  it(`${RESTORES} restores: every one ended and explained, nothing lost, duplicated or left behind`, {
    timeout: 600_000,
  }, async () => {
    const report = await runChaos({
      restores: RESTORES,
      postEveryMs: 1_000,
      workerKills: 6,
      // Ten small restores can all end within a minute on an idle machine: the kills are packed into
      // the first 20 s after the POSTs, while every restore is still running, so all six happen.
      killAfterPostsMs: 20_000,
      apiRestarts: 1,
      redisRestarts: 1,
      faultRate: 0.1,
      boundMs: 300_000,
      workerLockSeconds: 5,
      awsEndpoint: inject('awsEndpoint'),
      seed: 7,
    });
    console.log(JSON.stringify({ ...report, options: undefined }, null, 1));
    expect(report.problems).toEqual([]);
    expect(report.accepted).toBeGreaterThanOrEqual(RESTORES);
    expect(report.kills.workers).toBeGreaterThanOrEqual(5);
    expect(report.redisRestarts).toBe(1);
    expect(report.apiRestarts).toBe(1);
    expect(report.faults.RequestLimitExceeded + report.faults.Unavailable).toBeGreaterThan(0);
    expect(report.ok).toBe(true);
  });
});
