import type { Reporter, TestModule } from 'vitest/node';

const SHOWN = 10;

/**
 * Prints, at the end of a run of more than one test file, the slowest files: the time each spent importing
 * (collect), in setup files, and in its tests and hooks, so a slow CI points at its cause.
 */
export default class SlowestFilesReporter implements Reporter {
  onTestRunEnd(testModules: ReadonlyArray<TestModule>): void {
    if (testModules.length < 2) return;
    const rows = testModules.map((module) => {
      const d = module.diagnostic();
      const importing = d.collectDuration + d.setupDuration + d.prepareDuration + d.environmentSetupDuration;
      return {
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
    process.stdout.write(
      `\nSlowest ${Math.min(SHOWN, rows.length)} of ${rows.length} test files:\n${lines.join('\n')}\n`,
    );
  }
}
