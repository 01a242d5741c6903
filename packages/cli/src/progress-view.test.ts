import type { Restore } from '@ec2-restore/contracts';
import { describe, expect, it } from 'vitest';
import { LineProgressView, RestoreProgress, renderProgress } from './progress-view.ts';
import { formatBytes, formatDuration, RateEstimator } from './units.ts';

const GiB = 1024 ** 3;

function restore(): Restore {
  return {
    id: 'r-1',
    status: 'running',
    mode: 'cross-account',
    createdAt: '2026-01-01T00:00:00.000Z',
    updatedAt: '2026-01-01T00:00:00.000Z',
    request: {
      restorePointId: 'rp-1',
      target: { accountId: '222222222222', region: 'eu-west-1', kmsKeyId: 'alias/k' },
      instance: { powerOn: false },
      dataPath: 'ebs-direct',
      kmsGrant: 'none',
      verify: false,
      transferKey: false,
    },
    steps: [
      { name: 'snapshot:/dev/xvda', status: 'running', attempts: 1, startedAt: null, finishedAt: null },
    ],
    progress: {
      bytesTotal: 3 * GiB,
      bytesDone: 0,
      volumes: [
        { deviceName: '/dev/xvda', bytesTotal: GiB, bytesDone: 0, phase: 'write', bytesVerified: 0 },
        { deviceName: '/dev/xvdb', bytesTotal: 2 * GiB, bytesDone: 0, phase: 'write', bytesVerified: 0 },
      ],
    },
    result: null,
    error: null,
  };
}

function progressEvent(ms: number, deviceName: string, bytesDone: number, bytesTotal: number) {
  return {
    id: `${ms}-0`,
    type: 'progress' as const,
    data: { deviceName, bytesDone, bytesTotal, totalDone: 0, total: 0 },
  };
}

describe('the live view', () => {
  it('draws a bar per volume with bytes, rate and ETA timed by the events themselves', () => {
    const progress = new RestoreProgress(restore(), () => 0);
    const t0 = 1_764_000_000_000;
    progress.apply(progressEvent(t0, '/dev/xvda', 0, GiB));
    progress.apply(progressEvent(t0 + 10_000, '/dev/xvda', GiB / 4, GiB));
    progress.apply(progressEvent(t0 + 10_000, '/dev/xvdb', 2 * GiB, 2 * GiB));
    const lines = renderProgress(progress, false, 100);
    expect(lines[0]).toBe('restore r-1  running');
    // Overall: 2.25 GiB in 10 s, 0.75 GiB to go.
    expect(lines[1]).toBe('  cross-account, ebs-direct: 2.25 GiB of 3.00 GiB, ETA 3s');
    // A quarter of 1 GiB in 10 s: 25.6 MiB/s, 30 s to go.
    expect(lines[2]).toMatch(
      /^ {2}\/dev\/xvda █{8}░{22} {2}25% 256 MiB\/1\.00 GiB {2}25\.6 MiB\/s {2}ETA 30s$/,
    );
    expect(lines[3]).toMatch(/^ {2}\/dev\/xvdb █{30} 100% 2\.00 GiB\/2\.00 GiB {2}done$/);
    expect(lines[4]).toBe('  steps:  ▸ snapshot:/dev/xvda');
  });

  it('shows the read-back of a verified restore: written volumes wait for it, then verified bytes and rate', () => {
    const verified = restore();
    verified.request.verify = true;
    const progress = new RestoreProgress(verified, () => 0);
    const t0 = 1_764_000_000_000;
    progress.apply(progressEvent(t0, '/dev/xvda', GiB, GiB));
    progress.apply(progressEvent(t0, '/dev/xvdb', 2 * GiB, 2 * GiB));
    const verifyEvent = (ms: number, bytesVerified: number) => ({
      id: `${ms}-0`,
      type: 'progress' as const,
      data: {
        deviceName: '/dev/xvda',
        phase: 'verify' as const,
        bytesDone: GiB,
        bytesVerified,
        bytesTotal: GiB,
        totalDone: 0,
        total: 0,
      },
    });
    progress.apply(verifyEvent(t0 + 1_000, 0));
    progress.apply(verifyEvent(t0 + 11_000, GiB / 2));
    const lines = renderProgress(progress, false, 100);
    // Half of 1 GiB read back in 10 s: 51.2 MiB/s, 10 s to go.
    expect(lines[2]).toMatch(
      /^ {2}\/dev\/xvda █{15}░{15} {2}50% 512 MiB\/1\.00 GiB verified {2}51\.2 MiB\/s {2}ETA 10s$/,
    );
    // Written but not read back yet: not done.
    expect(lines[3]).toMatch(/^ {2}\/dev\/xvdb █{30} 100% 2\.00 GiB\/2\.00 GiB {2}written, to verify$/);

    let text = '';
    const view = new LineProgressView({
      write: (t) => {
        text += t;
      },
      isTty: false,
      color: false,
      columns: 80,
    });
    view.update(progress, verifyEvent(t0 + 11_000, GiB / 2));
    expect(text).toBe('/dev/xvda: verified 512 MiB / 1.00 GiB (50%), ETA 10s\n');
  });

  it('wraps the steps to the terminal width', () => {
    const progress = new RestoreProgress(restore());
    for (const name of ['snapshot:/dev/xvdb', 'share', 'instance', 'cleanup']) {
      progress.apply({ id: '1-0', type: 'step', data: { name, status: 'pending', attempts: 1 } });
    }
    const lines = renderProgress(progress, false, 40);
    const steps = lines.slice(lines.findIndex((line) => line.startsWith('  steps:')));
    expect(steps.length).toBeGreaterThan(1);
    for (const line of steps) expect(line.length).toBeLessThan(40);
  });

  it('prints a line per step and per volume quarter into a pipe', () => {
    let text = '';
    const view = new LineProgressView({
      write: (t) => {
        text += t;
      },
      isTty: false,
      columns: 80,
      color: false,
    });
    const progress = new RestoreProgress(restore());
    view.start(progress);
    for (const done of [0, GiB / 8, GiB / 4, GiB / 2, GiB]) {
      const event = progressEvent(1_764_000_000_000 + Math.round(done / 1000), '/dev/xvda', done, GiB);
      progress.apply(event);
      view.update(progress, event);
    }
    expect(text.split('\n').filter((line) => line.startsWith('/dev/xvda'))).toEqual([
      expect.stringMatching(/^\/dev\/xvda: 256 MiB \/ 1\.00 GiB \(25%\), ETA /),
      expect.stringMatching(/^\/dev\/xvda: 512 MiB \/ 1\.00 GiB \(50%\), ETA /),
      '/dev/xvda: 1.00 GiB / 1.00 GiB (100%)',
    ]);
  });
});

describe('units', () => {
  it('formats bytes and durations', () => {
    expect(formatBytes(0)).toBe('0 B');
    expect(formatBytes(512 * 1024)).toBe('512 KiB');
    expect(formatBytes(7.5 * 1024 * 1024)).toBe('7.50 MiB');
    expect(formatBytes(1.25 * GiB)).toBe('1.25 GiB');
    expect(formatDuration(4.4)).toBe('4s');
    expect(formatDuration(125)).toBe('2m05s');
    expect(formatDuration(3720)).toBe('1h02m');
  });

  it('estimates the rate over a sliding window', () => {
    const rate = new RateEstimator(10_000);
    rate.add(0, 0);
    expect(rate.bytesPerSecond()).toBeUndefined();
    rate.add(1_000, 100);
    rate.add(20_000, 100 + 19 * 1000);
    // The first sample fell out of the window; the rate is the recent one.
    expect(rate.bytesPerSecond()).toBe(1000);
    expect(rate.secondsLeft(100 + 19_000 + 5_000)).toBe(5);
  });
});
