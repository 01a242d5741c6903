/**
 * One restore = one BullMQ flow (docs/architecture.md#services-and-queues):
 *
 *   instance (restore.instance)
 *     └─ share (restore.share, another account only)
 *          └─ snapshot (restore.snapshot), one per volume
 *
 * Same account: the snapshot jobs are children of the instance job. A parent runs once all its
 * children completed and reads their results; a child that fails for good fails its parent
 * (`failParentOnFailure`), so the flow ends and cleanup runs.
 */
import {
  type CleanupJobInput,
  type FlowRestorePointInstance,
  type FlowVolume,
  flowVolumeSchema,
  type InstanceJobInput,
  JobName,
  jobIdFor,
  queueForJob,
  type RestorePointShape,
  type RestoreRequest,
  type Restore as RestoreResource,
  type ShareJobInput,
  type SnapshotJobInput,
  selectVolumes,
} from '@ec2-restore/contracts';
import type { Restore } from '@ec2-restore/restore-state';
import type { FlowJob, FlowProducer, JobNode, JobsOptions } from 'bullmq';
import type { PlannedRestore, RestoreLauncher } from './lifecycle/accept-restore.ts';

/** The restore as the API stored it (docs/architecture.md#the-public-interface). */
export type FlowRestore = Pick<RestoreResource, 'id' | 'mode' | 'request'>;

/** What the flow needs to know of the restore point (a `RestorePointSummary` fits). */
export type FlowRestorePoint = RestorePointShape;

export interface FlowContext {
  restorePoint: FlowRestorePoint;
  /** Account of the worker role (STS GetCallerIdentity), where the snapshots are written. */
  sourceAccountId: string;
}

/** Retry settings per step. */
export interface RestoreFlowOptions {
  /**
   * Attempts of each job (throttling and 5xx are retried; permanent refusals are not).
   * @defaultValue 5
   */
  attempts?: number;
  /**
   * First backoff delay in ms; doubles on each retry (with BullMQ's exponential backoff).
   * @defaultValue 2000
   */
  backoffMs?: number;
}

function jobOptions(
  restoreId: string,
  step: JobName,
  options: RestoreFlowOptions,
  deviceName?: string,
): JobsOptions {
  return {
    jobId: jobIdFor(restoreId, step, deviceName),
    attempts: options.attempts ?? 5,
    backoff: { type: 'exponential', delay: options.backoffMs ?? 2000, jitter: 0.5 },
    // A completed child's result lives in its parent; keep finished jobs a week for Bull Board and dedup.
    removeOnComplete: { age: 7 * 24 * 3600 },
    removeOnFail: { age: 7 * 24 * 3600 },
  };
}

function targetFieldsOf(restore: FlowRestore, sourceAccountId: string) {
  const { target } = restore.request;
  return {
    restoreId: restore.id,
    mode: restore.mode,
    region: target.region,
    sourceAccountId,
    targetAccountId: target.accountId,
    ...(target.roleArn ? { roleArn: target.roleArn } : {}),
    ...(target.externalId ? { externalId: target.externalId } : {}),
  };
}

/** The volumes a restore writes: all of the restore point's, or the ones the request names. */
export function selectedVolumes(restore: FlowRestore, restorePoint: FlowRestorePoint): FlowVolume[] {
  const all = restorePoint.volumes.map((v) => flowVolumeSchema.parse(v));
  const { selected, unknown } = selectVolumes(all, restore.request.volumes);
  if (unknown.length > 0) {
    const known = all.map((v) => v.deviceName).join(', ');
    throw new Error(
      `volumes: ${unknown.join(', ')} is not a volume of restore point ${restore.request.restorePointId} (it has ${known})`,
    );
  }
  return selected;
}

/** The instance job's view of the restore point: boot and licensing attributes, tags, DeleteOnTermination. */
export function flowRestorePointInstance(restorePoint: FlowRestorePoint): FlowRestorePointInstance {
  const { instance } = restorePoint;
  const deleteOnTermination = Object.fromEntries(
    restorePoint.volumes.flatMap((v) =>
      v.deleteOnTermination === undefined ? [] : [[v.deviceName, v.deleteOnTermination] as const],
    ),
  );
  return {
    instanceType: instance.instanceType,
    rootDeviceName: instance.rootDeviceName,
    architecture: instance.architecture,
    ...(instance.platform ? { platform: instance.platform } : {}),
    ...(instance.bootMode ? { bootMode: instance.bootMode } : {}),
    ...(instance.enaSupport !== undefined ? { enaSupport: instance.enaSupport } : {}),
    ...(instance.imdsHttpTokens ? { imdsHttpTokens: instance.imdsHttpTokens } : {}),
    ...(instance.virtualizationType ? { virtualizationType: instance.virtualizationType } : {}),
    ...(instance.billing ? { billing: instance.billing } : {}),
    ...(instance.tags && Object.keys(instance.tags).length > 0 ? { tags: instance.tags } : {}),
    ...(Object.keys(deleteOnTermination).length > 0 ? { deleteOnTermination } : {}),
  };
}

/** The flow tree of a restore, without adding it (pure; tested without Redis). */
export function buildRestoreFlow(
  restore: FlowRestore,
  context: FlowContext,
  options: RestoreFlowOptions = {},
): FlowJob {
  const { request } = restore;
  const target = targetFieldsOf(restore, context.sourceAccountId);
  const snapshotJobs: FlowJob[] = selectedVolumes(restore, context.restorePoint).map((volume) => {
    const data: SnapshotJobInput = {
      ...target,
      restorePointId: request.restorePointId,
      targetKmsKeyId: request.target.kmsKeyId,
      dataPath: request.dataPath,
      volume,
      // A request stored before `verify` existed has none: not verified.
      verify: request.verify === true,
      transferKey: request.transferKey === true,
    };
    return {
      name: JobName.Snapshot,
      queueName: queueForJob.snapshot,
      data,
      opts: {
        ...jobOptions(restore.id, JobName.Snapshot, options, volume.deviceName),
        failParentOnFailure: true,
      },
    };
  });

  let children = snapshotJobs;
  if (restore.mode === 'cross-account') {
    const roleArn = request.target.roleArn;
    if (!roleArn)
      throw new Error('target.roleArn is required when the target account is not the source account');
    const data: ShareJobInput = {
      ...target,
      roleArn,
      kmsGrant: request.kmsGrant,
      transferKey: request.transferKey === true,
    };
    children = [
      {
        name: JobName.Share,
        queueName: queueForJob.share,
        data,
        opts: { ...jobOptions(restore.id, JobName.Share, options), failParentOnFailure: true },
        children: snapshotJobs,
      },
    ];
  }

  const instanceData: InstanceJobInput = {
    ...target,
    restorePointId: request.restorePointId,
    targetKmsKeyId: request.target.kmsKeyId,
    instance: request.instance,
    restorePoint: flowRestorePointInstance(context.restorePoint),
    ...(request.volumes ? { volumes: request.volumes } : {}),
  };
  return {
    name: JobName.Instance,
    queueName: queueForJob.instance,
    data: instanceData,
    opts: jobOptions(restore.id, JobName.Instance, options),
    children,
  };
}

/** Adds the restore's flow. Adding it again is a no-op (deterministic job ids). */
export function addRestoreFlow(
  flowProducer: FlowProducer,
  restore: FlowRestore,
  context: FlowContext,
  options: RestoreFlowOptions = {},
): Promise<JobNode> {
  return flowProducer.add(buildRestoreFlow(restore, context, options));
}

/** The cleanup job of a restore: input and options for `Queue.add` on the instance queue. */
export function cleanupJob(input: CleanupJobInput, options: RestoreFlowOptions = {}) {
  return {
    name: JobName.Cleanup,
    queueName: queueForJob.cleanup,
    data: input,
    opts: jobOptions(input.restoreId, JobName.Cleanup, { attempts: 8, ...options }),
  } satisfies FlowJob;
}

/** Starts a stored restore by adding its flow: the `RestoreLauncher` of `acceptRestore`. */
export class FlowRestoreLauncher implements RestoreLauncher {
  constructor(
    private readonly flowProducer: FlowProducer,
    private readonly options: RestoreFlowOptions = {},
  ) {}

  async start(restore: Restore<RestoreRequest>, planned: PlannedRestore): Promise<string> {
    if (planned.restorePoint === null || planned.sourceAccountId === null) {
      throw new Error(`restore ${restore.id}: no restore point or worker account to build the flow from`);
    }
    const flow = await addRestoreFlow(
      this.flowProducer,
      { id: restore.id, mode: restore.mode, request: restore.request },
      { restorePoint: planned.restorePoint, sourceAccountId: planned.sourceAccountId },
      this.options,
    );
    return flow.job.id ?? '';
  }
}
