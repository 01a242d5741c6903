/**
 * Which jobs each worker process runs, from its logs (`step started` or `step resumed` ... `step
 * succeeded`), so a kill
 * can be counted against the jobs it interrupted, and the next kill can aim at a process running a
 * job that was killed before: a job must survive its worker dying twice.
 */
import type { ChaosProcess } from '../../test/support/chaos.ts';

const ENDS = new Set(['step succeeded', 'step failed for good', 'step failed, will retry', 'step waits']);

export class JobKills {
  private readonly running = new Map<string, Set<string>>();
  private readonly hits = new Map<string, number>();

  /** Feed one line a process printed (`service#index {json}`). */
  observe(line: string): void {
    const space = line.indexOf(' ');
    if (space < 0 || line[space + 1] !== '{') return;
    let entry: { msg?: string; jobId?: string };
    try {
      entry = JSON.parse(line.slice(space + 1));
    } catch {
      return;
    }
    if (!entry.jobId || !entry.msg) return;
    const slot = line.slice(0, space);
    const jobs = this.running.get(slot) ?? new Set<string>();
    this.running.set(slot, jobs);
    if (entry.msg === 'step started' || entry.msg === 'step resumed') jobs.add(entry.jobId);
    else if (ENDS.has(entry.msg)) jobs.delete(entry.jobId);
  }

  /**
   * The next victim: with probability `aimRate`, a process running a job that was killed before
   * (if any); else, mostly (80%), a process running some job; else any process.
   */
  choose(alive: ChaosProcess[], random: () => number, aimRate: number): ChaosProcess | undefined {
    const slotOf = (p: ChaosProcess) => `${p.service}#${p.index}`;
    const jobsOf = (p: ChaosProcess) => [...(this.running.get(slotOf(p)) ?? [])];
    const aimed = alive.filter((p) => jobsOf(p).some((j) => this.hits.has(j)));
    const busy = alive.filter((p) => jobsOf(p).length > 0);
    const pool =
      aimed.length > 0 && random() < aimRate ? aimed : busy.length > 0 && random() < 0.8 ? busy : alive;
    const victim = pool[Math.floor(random() * pool.length)];
    if (victim) {
      const slot = slotOf(victim);
      for (const job of this.running.get(slot) ?? []) this.hits.set(job, (this.hits.get(job) ?? 0) + 1);
      this.running.delete(slot);
    }
    return victim;
  }

  /** Jobs interrupted by at least one kill, and by two or more. */
  counts(): { jobsHit: number; jobsHitTwice: number } {
    const values = [...this.hits.values()];
    return { jobsHit: values.length, jobsHitTwice: values.filter((n) => n >= 2).length };
  }
}
