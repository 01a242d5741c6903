import { relative } from 'node:path';
import { BaseSequencer, type TestSpecification } from 'vitest/node';

/**
 * Files that take minutes (worker processes, a whole embedded stack, a minute of SIGKILLs), longest
 * kind first. When integration files run several at once, one of these starting last would leave the
 * others idle while it runs alone; on a fresh clone vitest has no durations to go by and would start
 * them in path order (test/resilience near the end).
 */
const LONG_FIRST = [
  'test/resilience/fault.test.ts',
  'test/pipeline/',
  'test/cli/',
  'test/embedded/',
  'test/resilience/',
  'test/data-path/',
];

/** vitest's order (projects, then known durations or sizes), with the long kinds of files first. */
export default class LongFilesFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const sorted = await super.sort(files);
    const root = this.ctx.config.root;
    const rank = (spec: TestSpecification) => {
      const path = relative(root, spec.moduleId);
      const index = LONG_FIRST.findIndex((prefix) => path.startsWith(prefix));
      return index === -1 ? LONG_FIRST.length : index;
    };
    const position = new Map(sorted.map((spec, index) => [spec, index]));
    const groupOf = (spec: TestSpecification) => sorted.findIndex((other) => other.project === spec.project);
    return [...sorted].sort(
      (a, b) =>
        groupOf(a) - groupOf(b) || rank(a) - rank(b) || (position.get(a) ?? 0) - (position.get(b) ?? 0),
    );
  }
}
