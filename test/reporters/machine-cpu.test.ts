import { describe, expect, it } from 'vitest';
import { busyCores, machineCpuTimes, parseMachineCpuTimes } from './machine-cpu.ts';

describe("the reporter's machine CPU figure", () => {
  it('reads /proc/stat: idle and iowait are the only ticks not busy', () => {
    const procStat = 'cpu  100 20 30 400 50 6 7 8 0 0\ncpu0 50 10 15 200 25 3 3 4 0 0\nintr 1 2 3\n';
    expect(parseMachineCpuTimes(procStat)).toEqual({ busy: 171, total: 621 });
    expect(parseMachineCpuTimes('intr 1 2 3\n')).toBeUndefined();
    expect(parseMachineCpuTimes('cpu  1 2 x 4 5 6 7 8\n')).toBeUndefined();
  });

  it('turns two readings into busy cores: all ticks busy on 2 cores is 2, half of them is 1', () => {
    const start = { busy: 1_000, total: 5_000 };
    expect(busyCores(start, { busy: 1_600, total: 5_600 }, 2)).toBe(2);
    expect(busyCores(start, { busy: 1_300, total: 5_600 }, 2)).toBe(1);
    expect(busyCores(start, start, 2)).toBe(0);
  });

  it.runIf(process.platform === 'linux')('reads this machine: busy and total only grow', () => {
    const first = machineCpuTimes();
    let spin = 0;
    for (const until = Date.now() + 50; Date.now() < until; ) spin++;
    const second = machineCpuTimes();
    expect(spin).toBeGreaterThan(0);
    expect(second!.busy).toBeGreaterThan(first!.busy);
    expect(second!.total).toBeGreaterThanOrEqual(second!.busy);
    expect(busyCores(first!, second!)).toBeGreaterThan(0);
  });
});
