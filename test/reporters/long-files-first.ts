import { relative } from 'node:path';
import { BaseSequencer, type TestSpecification } from 'vitest/node';

/**
 * Seconds each long integration file took in clean-clone CI runs (the median of four runs on
 * 2026-12-03, 17:55-18:48 UTC, 4 files at once; `EC2_RESTORE_FILE_TIMES` of
 * test/reporters/slowest-files.ts and the run's own listing: the order is what counts). When files run several at once, one
 * of these starting late leaves the others idle while it runs alone at the end; on a fresh clone
 * vitest has no durations of its own and would start files by size. Longest first keeps every worker busy until the end. Update from a
 * recent run when a file's time changes a lot; a file not listed starts after these.
 */
const MEASURED_SECONDS: Record<string, number> = {
  'test/pipeline/generated-policies.test.ts': 141,
  'test/resilience/fault.test.ts': 137,
  'test/pipeline/verified-restore.test.ts': 134,
  'test/fault-injection/chaos-restores.test.ts': 113,
  'test/cli/cli.test.ts': 98,
  'test/pipeline/same-account.test.ts': 88,
  'test/pipeline/completion-wait-and-zones.test.ts': 78,
  'test/pipeline/launch-strategies.test.ts': 64,
  'test/preflight/generated-policies.test.ts': 51,
  'test/pipeline/generated-policies-consistency.test.ts': 42,
  'test/data-path/cli.test.ts': 42,
  'test/pipeline/step-rules.test.ts': 39,
  'test/data-path/ebs-direct.test.ts': 36,
  'test/emulator/eventual-consistency.test.ts': 35,
  'test/pipeline/worker-volume.test.ts': 33,
  'test/data-path/repository-contract.test.ts': 29,
  'test/data-path/ebs-direct-retry-budget.test.ts': 28,
  'test/pipeline/transfer-key.test.ts': 27,
  'test/emulator/ebs-direct.test.ts': 27,
  'test/embedded/start-command.test.ts': 23,
  'test/pipeline/job-tampering.test.ts': 22,
  'test/pipeline/volume-level.test.ts': 22,
  'test/fault-injection/service-stop.test.ts': 18,
  'test/resilience/kms-disabled.test.ts': 18,
  'test/resilience/stranded.test.ts': 18,
  'test/data-path/ebs-direct-limits.test.ts': 17,
  'test/data-path/abort-listeners.test.ts': 17,
  'test/pipeline/cross-account.test.ts': 16,
  'test/resilience/idempotency.test.ts': 15,
  'test/compose/docker-compose.test.ts': 15,
  'test/emulator/cross-account-flow.test.ts': 14,
  'test/fault-injection/fault-proxy.test.ts': 14,
  'test/pipeline/launch-root-tag.test.ts': 13,
  'test/emulator/images-and-launches.test.ts': 13,
  'test/pipeline/s3-repository.test.ts': 13,
  'test/pipeline/eventual-consistency.test.ts': 12,
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
