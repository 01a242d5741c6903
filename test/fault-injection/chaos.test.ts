import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { type ChaosRun, startChaos } from '../support/chaos.ts';
import { seededRandom } from '../support/fault-proxy.ts';
import { isAlive } from '../support/index.ts';

const STAND_IN = 'test/support/fixtures/stand-in-worker.ts';
const runs: ChaosRun[] = [];
const dirs: string[] = [];
afterEach(async () => {
  await Promise.all(runs.splice(0).map((run) => run.stop(1_000)));
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function notesDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'chaos-test-'));
  dirs.push(dir);
  return dir;
}

const waitFor = async (probe: () => boolean, timeoutMs: number) => {
  const deadline = Date.now() + timeoutMs;
  while (!probe() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  return probe();
};

describe('worker chaos', () => {
  it('SIGKILLs random workers during the kill period, restarts each, and stops them all at the end', async () => {
    const dir = notesDir();
    const run = startChaos({
      groups: [
        { service: 'snapshot-worker', count: 2, entry: STAND_IN, env: { STAND_IN_ROLE: 'snapshot' } },
        { service: 'instance-worker', count: 1, entry: STAND_IN, env: { STAND_IN_ROLE: 'instance' } },
      ],
      env: { STAND_IN_DIR: dir },
      killForMs: 4_000,
      killEveryMs: [400, 800],
      random: seededRandom(11),
    });
    runs.push(run);
    const started = Date.now();
    await run.killingDone;
    expect(Date.now() - started).toBeGreaterThanOrEqual(3_900);

    const kills = run.kills();
    expect(kills.length).toBeGreaterThanOrEqual(4);
    expect(kills.length).toBeLessThanOrEqual(10);
    expect(kills.every((k) => k.at - started <= 4_100)).toBe(true);
    // No more kills once the period is over.
    await new Promise((r) => setTimeout(r, 1_000));
    expect(run.kills()).toHaveLength(kills.length);

    // Every killed process is gone and had no chance to stop cleanly.
    const notes = () => readdirSync(dir);
    for (const kill of kills) {
      expect(isAlive(kill.pid)).toBe(false);
      expect(notes().some((n) => n.endsWith(`-${kill.pid}.stopped`))).toBe(false);
    }
    // Each kill was followed by a restart (a kill may hit a process still loading, before its note).
    expect(notes().filter((n) => n.endsWith('.started')).length).toBeLessThanOrEqual(3 + kills.length);
    const running = run.processes();
    expect(running.map((p) => p.service).sort()).toEqual([
      'instance-worker',
      'snapshot-worker',
      'snapshot-worker',
    ]);
    expect(running.reduce((sum, p) => sum + p.restarts, 0)).toBe(kills.length);
    expect(running.every((p) => isAlive(p.pid))).toBe(true);
    const startedNote = (pid: number) => notes().some((n) => n.endsWith(`-${pid}.started`));
    expect(await waitFor(() => running.every((p) => startedNote(p.pid)), 15_000)).toBe(true);
    expect(run.unexpectedExits()).toEqual([]);

    // stop() ends every process with SIGTERM: each notes a clean stop.
    await run.stop(5_000);
    for (const p of running) {
      expect(isAlive(p.pid)).toBe(false);
      expect(notes()).toContain(
        `${p.service === 'instance-worker' ? 'instance' : 'snapshot'}-${p.pid}.stopped`,
      );
    }
  });

  it('restarts a worker that crashes by itself and reports the crash', async () => {
    const dir = notesDir();
    const run = startChaos({
      groups: [{ service: 'share-worker', count: 1, entry: STAND_IN }],
      env: { STAND_IN_DIR: dir, STAND_IN_CRASH_AFTER_MS: '300' },
      killForMs: 0,
    });
    runs.push(run);
    expect(await waitFor(() => run.unexpectedExits().length >= 2, 15_000)).toBe(true);
    expect(run.unexpectedExits()[0]).toMatchObject({
      service: 'share-worker',
      index: 0,
      code: 3,
      signal: null,
    });
    expect(run.kills()).toEqual([]);
  });

  it('refuses a service whose main does not exist, naming the file it looked for', () => {
    expect(() => startChaos({ groups: [{ service: 'no-such-worker', count: 1 }], killForMs: 1_000 })).toThrow(
      'no-such-worker: services/no-such-worker/src/main.ts does not exist',
    );
  });
});
