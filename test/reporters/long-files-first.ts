import { relative } from 'node:path';
import { BaseSequencer, type TestSpecification } from 'vitest/node';

/**
 * Seconds each long integration file took in a clean-clone CI run (`EC2_RESTORE_FILE_TIMES` of
 * test/reporters/slowest-files.ts; 2026-12-03 16:12 UTC, 4 files at once on a loaded machine, so
 * about twice a quiet run's figures: the order is what counts). When files run several at once, one
 * of these starting late leaves the others idle while it runs alone at the end; on a fresh clone
 * vitest has no durations of its own and would start files by size. Longest first keeps every worker busy until the end. Update from a
 * recent run when a file's time changes a lot; a file not listed starts after these.
 */
const MEASURED_SECONDS: Record<string, number> = {
  'test/pipeline/generated-policies.test.ts': 173,
  'test/cli/cli.test.ts': 164,
  'test/resilience/fault.test.ts': 163,
  'test/pipeline/verified-restore.test.ts': 159,
  'test/fault-injection/chaos-restores.test.ts': 144,
  'test/pipeline/completion-wait-and-zones.test.ts': 118,
  'test/pipeline/launch-strategies.test.ts': 91,
  'test/pipeline/same-account.test.ts': 86,
  'test/pipeline/generated-policies-consistency.test.ts': 78,
  'test/data-path/ebs-direct.test.ts': 73,
  'test/data-path/ebs-direct-retry-budget.test.ts': 70,
  'test/data-path/cli.test.ts': 64,
  'test/pipeline/step-rules.test.ts': 56,
  'test/pipeline/worker-volume.test.ts': 51,
  'test/preflight/generated-policies.test.ts': 48,
  'test/emulator/eventual-consistency.test.ts': 46,
  'test/pipeline/cross-account.test.ts': 40,
  'test/resilience/stranded.test.ts': 35,
  'test/embedded/start-command.test.ts': 33,
  'test/resilience/idempotency.test.ts': 31,
  'test/data-path/repository-contract.test.ts': 31,
  'test/pipeline/volume-level.test.ts': 28,
  'test/pipeline/transfer-key.test.ts': 27,
  'test/resilience/kms-disabled.test.ts': 26,
  'test/pipeline/job-tampering.test.ts': 26,
  'test/fault-injection/service-stop.test.ts': 22,
  'test/pipeline/eventual-consistency.test.ts': 16,
  'test/emulator/images-and-launches.test.ts': 15,
  'test/resilience/cancel.test.ts': 15,
  'test/fault-injection/fault-proxy.test.ts': 14,
  'test/preflight/plan.test.ts': 14,
  'test/data-path/ebs-direct-limits.test.ts': 14,
  'test/sweeper/sweep-leftovers.test.ts': 14,
  'test/data-path/abort-listeners.test.ts': 14,
  'test/compose/docker-compose.test.ts': 13,
  'test/emulator/cross-account-flow.test.ts': 13,
  'test/pipeline/launch-root-tag.test.ts': 12,
  'test/emulator/snapshot-sharing.test.ts': 12,
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
