import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';

/** Cumulative CPU time of the whole machine, in clock ticks: busy (every process and the kernel) and all. */
export interface MachineCpuTimes {
  busy: number;
  total: number;
}

/**
 * Parses the first line of Linux's /proc/stat (`cpu user nice system idle iowait irq softirq steal ...`,
 * https://man7.org/linux/man-pages/man5/proc_stat.5.html): idle and iowait are not busy.
 */
export function parseMachineCpuTimes(procStat: string): MachineCpuTimes | undefined {
  const fields = /^cpu\s+(.*)$/m.exec(procStat)?.[1]?.trim().split(/\s+/).map(Number);
  if (!fields || fields.length < 8 || fields.some((n) => !Number.isFinite(n))) return undefined;
  const [user, nice, system, idle, iowait, irq, softirq, steal] = fields.slice(0, 8) as number[];
  const busy = user! + nice! + system! + irq! + softirq! + steal!;
  return { busy, total: busy + idle! + iowait! };
}

/** The machine's CPU times now; undefined where /proc/stat does not exist (not Linux). */
export function machineCpuTimes(): MachineCpuTimes | undefined {
  try {
    return parseMachineCpuTimes(readFileSync('/proc/stat', 'utf8'));
  } catch {
    return undefined;
  }
}

/** How many of the machine's cores were busy on average between two readings. */
export function busyCores(
  from: MachineCpuTimes,
  to: MachineCpuTimes,
  cores = availableParallelism(),
): number {
  const total = to.total - from.total;
  return total > 0 ? ((to.busy - from.busy) / total) * cores : 0;
}
