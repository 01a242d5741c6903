/**
 * CPU used by one process and by the whole machine between two samples, from /proc (Linux; null
 * elsewhere). An event-loop stall while the API used little CPU and the machine was busy is the
 * machine's doing (the process was not scheduled), not the API's.
 */
import { readFileSync } from 'node:fs';

export interface CpuSample {
  atMs: number;
  /** utime + stime of the process, in clock ticks (USER_HZ, 100 per second on Linux). */
  processTicks: number;
  machineBusyTicks: number;
  machineTotalTicks: number;
}

const TICKS_PER_SECOND = 100;

export function sampleCpu(pid: number): CpuSample | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces): state is field 3, utime 14, stime 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // user nice system idle iowait irq softirq steal (guest time is already in user).
    const cpu = (readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '')
      .trim()
      .split(/\s+/)
      .slice(1, 9)
      .map(Number);
    const total = cpu.reduce((sum, ticks) => sum + ticks, 0);
    return {
      atMs: performance.now(),
      processTicks: Number(fields[11]) + Number(fields[12]),
      machineBusyTicks: total - (cpu[3] ?? 0) - (cpu[4] ?? 0),
      machineTotalTicks: total,
    };
  } catch {
    return null;
  }
}

/** The process's CPU in % of one core, and the machine's busy share in % of all its cores. */
export function cpuShare(
  from: CpuSample | null,
  to: CpuSample | null,
): { process: number; machine: number } | null {
  if (from === null || to === null) return null;
  const seconds = (to.atMs - from.atMs) / 1000;
  return {
    process: (100 * (to.processTicks - from.processTicks)) / TICKS_PER_SECOND / seconds,
    machine:
      (100 * (to.machineBusyTicks - from.machineBusyTicks)) / (to.machineTotalTicks - from.machineTotalTicks),
  };
}
