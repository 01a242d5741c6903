import { relative } from 'node:path';
import { BaseSequencer, type TestSpecification } from 'vitest/node';

/**
 * Seconds each long integration file took in a clean-clone CI run (the slowest-files report of
 * `bash .ci/run`, 3 files at once). When files run several at once, one of these starting late leaves
 * the others idle while it runs alone at the end; on a fresh clone vitest has no durations of its own
 * and would start files by size. Longest first keeps every worker busy until the end. Update from a
 * recent run when a file's time changes a lot; a file not listed starts after these.
 */
const MEASURED_SECONDS: Record<string, number> = {
  'test/pipeline/generated-policies.test.ts': 98,
  'test/data-path/ebs-direct-retry-budget.test.ts': 83,
  'test/resilience/fault.test.ts': 80,
  'test/pipeline/generated-policies-consistency.test.ts': 67,
  'test/cli/cli.test.ts': 54,
  'test/fault-injection/chaos-restores.test.ts': 52,
  'test/pipeline/launch-strategies.test.ts': 42,
  'test/pipeline/completion-wait-and-zones.test.ts': 47, // whole-suite run 14:27, load 6
  // Measured alone since their restores run at once (14:49, load 7).
  'test/pipeline/verified-restore.test.ts': 60,
  'test/pipeline/worker-volume.test.ts': 34,
  'test/pipeline/transfer-key.test.ts': 12,
  'test/pipeline/same-account.test.ts': 41,
  'test/embedded/start-command.test.ts': 35,
  'test/pipeline/volume-level.test.ts': 34,
  'test/emulator/eventual-consistency.test.ts': 30,
  'test/resilience/stranded.test.ts': 29,
  'test/pipeline/step-rules.test.ts': 28,
  'test/resilience/cancel.test.ts': 28,
  'test/pipeline/cross-account.test.ts': 27,
  'test/data-path/ebs-direct.test.ts': 23,
  'test/data-path/cli.test.ts': 22,
  'test/resilience/idempotency.test.ts': 20,
  'test/pipeline/job-tampering.test.ts': 19,
  'test/preflight/generated-policies.test.ts': 16,
  'test/resilience/kms-disabled.test.ts': 15,
  'test/fault-injection/service-stop.test.ts': 14,
  'test/data-path/repository-contract.test.ts': 14,
  'test/data-path/ebs-direct-limits.test.ts': 13,
  'test/pipeline/eventual-consistency.test.ts': 11,
  'test/emulator/images-and-launches.test.ts': 11,
};

/** vitest's order (projects, then its own known durations or sizes), with the measured long files first, longest first. */
export default class LongFilesFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const sorted = await super.sort(files);
    const root = this.ctx.config.root;
    const seconds = (spec: TestSpecification) => MEASURED_SECONDS[relative(root, spec.moduleId)] ?? 0;
    const position = new Map(sorted.map((spec, index) => [spec, index]));
    const groupOf = (spec: TestSpecification) => sorted.findIndex((other) => other.project === spec.project);
    return [...sorted].sort(
      (a, b) =>
        groupOf(a) - groupOf(b) || seconds(b) - seconds(a) || (position.get(a) ?? 0) - (position.get(b) ?? 0),
    );
  }
}
