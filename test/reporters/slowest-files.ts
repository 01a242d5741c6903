import { writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import type { Reporter, TestModule } from 'vitest/node';
import { busyCores, type MachineCpuTimes, machineCpuTimes } from './machine-cpu.ts';

const SHOWN = 10;

/**
 * Prints, at the end of a run of more than one test file, the slowest files: the time each spent importing
 * (collect), in setup files, and in its tests and hooks, so a slow CI points at its cause; the sum
 * of all files' times beside the run's wall time (how much running files at once saved); and how busy
 * the machine's cores were meanwhile (Linux): near all of them, the run waited for CPU, not for its tests,
 * and only less CPU makes it shorter.
 * With EC2_RESTORE_FILE_TIMES=<path>, every file's seconds also go to that JSON file
 * ({ "test/x.test.ts": 12.3 }), the figures test/reporters/long-files-first.ts orders files by.
 */
export default class SlowestFilesReporter implements Reporter {
  private startedAt = Date.now();
  private cpuAtStart: MachineCpuTimes | undefined;

  onTestRunStart(): void {
    this.startedAt = Date.now();
    this.cpuAtStart = machineCpuTimes();
  }

  onTestRunEnd(testModules: ReadonlyArray<TestModule>): void {
    if (testModules.length < 2) return;
    const rows = testModules.map((module) => {
      const d = module.diagnostic();
      const importing = d.collectDuration + d.setupDuration + d.prepareDuration + d.environmentSetupDuration;
      return {
        path: module.relativeModuleId,
        file: `${module.project.name} ${module.relativeModuleId}`,
        total: importing + d.duration,
        importing,
        tests: d.duration,
        state: module.state(),
      };
    });
    rows.sort((a, b) => b.total - a.total);
    const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
    const lines = rows
      .slice(0, SHOWN)
      .map(
        (r) =>
          `  ${seconds(r.total).padStart(8)}  ${r.file} (tests and hooks ${seconds(r.tests)}, import and setup ${seconds(r.importing)})` +
          (r.state === 'passed' ? '' : ` [${r.state}]`),
      );
    const sum = rows.reduce((total, r) => total + r.total, 0);
    const wall = Date.now() - this.startedAt;
    const timesPath = process.env.EC2_RESTORE_FILE_TIMES;
    if (timesPath) {
      const times = Object.fromEntries(rows.map((r) => [r.path, Math.round(r.total / 100) / 10]));
      writeFileSync(timesPath, `${JSON.stringify(times, null, 2)}\n`);
    }
    process.stdout.write(
      `\nSlowest ${Math.min(SHOWN, rows.length)} of ${rows.length} test files:\n${lines.join('\n')}\n` +
        `Sum of the ${rows.length} files' times ${seconds(sum)}; wall time of the run ${seconds(wall)}` +
        ` (${(sum / Math.max(wall, 1)).toFixed(1)} files at once on average)\n` +
        this.machineLine(),
    );
  }

  private machineLine(): string {
    const end = machineCpuTimes();
    if (!this.cpuAtStart || !end) return '';
    const cores = availableParallelism();
    return `Machine CPU meanwhile: ${busyCores(this.cpuAtStart, end, cores).toFixed(2)} of ${cores} cores busy on average (every process on the machine)\n`;
  }
}
