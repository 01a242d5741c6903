/**
 * Queue and job names of the restore pipeline, in one place.
 *
 * One restore is one BullMQ flow (docs/architecture.md#services-and-queues): the `instance` job is the parent of the
 * `share` job (another account only), which is the parent of one `snapshot` job per volume. The
 * `cleanup` job runs after the flow ends, whatever the outcome.
 */

/** The three queues; each has its own worker service, scaled on its own. */
export const QueueName = {
  Snapshot: 'restore.snapshot',
  Share: 'restore.share',
  Instance: 'restore.instance',
} as const;
export type QueueName = (typeof QueueName)[keyof typeof QueueName];
export const queueNames: readonly QueueName[] = Object.values(QueueName);

/** Every job the pipeline knows. */
export const JobName = {
  Snapshot: 'snapshot',
  Share: 'share',
  Instance: 'instance',
  Cleanup: 'cleanup',
} as const;
export type JobName = (typeof JobName)[keyof typeof JobName];
export const jobNames: readonly JobName[] = Object.values(JobName);

/**
 * The queue each job runs on. A `Record` over the `JobName` union: adding a job name without a
 * queue does not compile.
 *
 * Cleanup runs on the instance queue: the instance worker is the one service holding both the
 * worker role (source account) and the restore role (target account), and cleanup touches both.
 */
export const queueForJob: Record<JobName, QueueName> = {
  snapshot: QueueName.Snapshot,
  share: QueueName.Share,
  instance: QueueName.Instance,
  cleanup: QueueName.Instance,
};

/** The job names a queue's worker must handle (exactly one handler each). */
export function jobNamesForQueue(queue: QueueName): JobName[] {
  return jobNames.filter((name) => queueForJob[name] === queue);
}

/**
 * Name of a job's step in the restore record: `snapshot:/dev/xvdb` (one per volume), `share`,
 * `instance`, `cleanup`.
 */
export function stepNameFor(job: JobName, deviceName?: string): string {
  return job === JobName.Snapshot && deviceName ? `${JobName.Snapshot}:${deviceName}` : job;
}

/**
 * The steps a restore shows as `pending` from the start, in order: one snapshot per volume, share
 * (another account only), instance. Cleanup is added when it first runs.
 */
export function restoreStepNames(
  mode: 'same-account' | 'cross-account',
  deviceNames: readonly string[],
): string[] {
  return [
    ...deviceNames.map((device) => stepNameFor(JobName.Snapshot, device)),
    ...(mode === 'cross-account' ? [JobName.Share] : []),
    JobName.Instance,
  ];
}
