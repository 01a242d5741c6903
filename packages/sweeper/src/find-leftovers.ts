/**
 * Which of the resources tagged by restores the sweep removes (pure: no AWS, no Redis).
 *
 * A restore's temporary resources are the ones its own cleanup step deletes whatever the outcome:
 * the snapshots and worker volumes of the snapshot step, the root volume the instance was launched
 * with (swapped out for the restored one), and the temporary image of the register-image launch
 * strategy with the target-owned copy of the root snapshot it names. The restored instance and its volumes (step
 * `instance`) are what the user asked for: the sweep never chooses them, even for a failed restore
 * (the cleanup step removes those, knowing the outcome; a record that expired tells nothing).
 */
import { IMAGE_STEP, JobName, LAUNCH_ROOT_STEP, RestoreTag } from '@ec2-restore/contracts';
import type { RestoreStatus } from '@ec2-restore/restore-state';

export type ResourceKind = 'volume' | 'snapshot' | 'image';

/** A volume, snapshot or image as found in one account and region, with its tags. */
export interface TaggedResource {
  kind: ResourceKind;
  id: string;
  accountId: string;
  region: string;
  /** Every tag of the resource (the product's and the user's). */
  tags: Readonly<Record<string, string>>;
  /** Volume CreateTime, snapshot StartTime or image CreationDate; unknown means "too young to judge". */
  createdAt: Date | undefined;
  /** The state EC2 reports (`available`, `in-use`, `completed`, `pending`, ...). */
  state: string | undefined;
}

export type SkipReason =
  | 'not-tagged-by-a-restore'
  | 'not-temporary'
  | 'restore-in-progress'
  | 'too-young'
  | 'being-deleted';

export interface SkippedResource {
  resource: TaggedResource;
  reason: SkipReason;
  detail: string;
}

export interface PlannedRemoval {
  resource: TaggedResource;
  restoreId: string;
  /** The restore's status, or null when the store does not know the restore. */
  restoreStatus: RestoreStatus | null;
}

export interface LeftoverPlan {
  remove: PlannedRemoval[];
  skip: SkippedResource[];
}

export interface FindLeftoversInput {
  resources: readonly TaggedResource[];
  /** Status of each restore id found on the resources; absent or null = unknown to the store. */
  statuses: ReadonlyMap<string, RestoreStatus | null>;
  now: Date;
  /** A resource younger than this is never removed (its restore may not be recorded yet). */
  minAgeMinutes: number;
}

/** Step tags that mark a temporary resource, per kind (see `packages/pipeline/src/steps/cleanup.ts`). */
export const temporarySteps: Readonly<Record<ResourceKind, readonly string[]>> = {
  snapshot: [JobName.Snapshot, IMAGE_STEP],
  volume: [JobName.Snapshot, LAUNCH_ROOT_STEP],
  image: [IMAGE_STEP],
};

/** Statuses after which the pipeline touches the restore's resources no more. */
const FINISHED: readonly RestoreStatus[] = ['succeeded', 'failed', 'cancelled'];

/** Decides, for each resource, whether the sweep removes it and why (or why not). */
export function findLeftovers(input: FindLeftoversInput): LeftoverPlan {
  const plan: LeftoverPlan = { remove: [], skip: [] };
  const minAgeMs = input.minAgeMinutes * 60_000;
  for (const resource of input.resources) {
    const skip = (reason: SkipReason, detail: string) => plan.skip.push({ resource, reason, detail });
    const restoreId = resource.tags[RestoreTag.RestoreId];
    const step = resource.tags[RestoreTag.Step];
    if (!restoreId) {
      skip('not-tagged-by-a-restore', `no ${RestoreTag.RestoreId} tag`);
      continue;
    }
    if (step === undefined || !temporarySteps[resource.kind].includes(step)) {
      skip(
        'not-temporary',
        `${RestoreTag.Step}=${step ?? '(none)'}: not a temporary ${resource.kind} (kept: it may be what the restore delivered)`,
      );
      continue;
    }
    if (resource.state === 'deleting' || resource.state === 'deleted' || resource.state === 'deregistered') {
      skip('being-deleted', `state ${resource.state}`);
      continue;
    }
    const status = input.statuses.get(restoreId) ?? null;
    if (status !== null && !FINISHED.includes(status)) {
      skip('restore-in-progress', `restore ${restoreId} is ${status}`);
      continue;
    }
    const ageMs = resource.createdAt ? input.now.getTime() - resource.createdAt.getTime() : undefined;
    if (ageMs === undefined || ageMs < minAgeMs) {
      const age = ageMs === undefined ? 'unknown age' : `${Math.floor(ageMs / 60_000)} min old`;
      skip('too-young', `${age}, younger than ${input.minAgeMinutes} min`);
      continue;
    }
    plan.remove.push({ resource, restoreId, restoreStatus: status });
  }
  return plan;
}
