import {
  DescribeInstancesCommand,
  DescribeVolumesCommand,
  type EC2Client,
  type Instance,
  type Volume,
} from '@aws-sdk/client-ec2';
import { isNewResourceNotFound } from '@ec2-restore/aws-clients';
import { PermanentStepError } from '../errors/permanent-step-error.ts';
import { StepPendingError } from '../errors/step-pending-error.ts';
import { pollUntil, quickLooksWithin } from './poll.ts';

/** In-job wait for a state change before handing the wait back to the queue. */
const SHORT_WAIT_MS = 20_000;
const RECHECK_MS = 10_000;

export async function describeInstance(ec2: EC2Client, instanceId: string): Promise<Instance> {
  const { Reservations = [] } = await ec2.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }));
  const instance = Reservations[0]?.Instances?.[0];
  if (!instance) throw new Error(`instance ${instanceId} is not visible to the restore role`);
  return instance;
}

/** DescribeInstances of an instance just launched: undefined while EC2 does not show it yet. */
async function describeNewInstance(ec2: EC2Client, instanceId: string): Promise<Instance | undefined> {
  try {
    const { Reservations = [] } = await ec2.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }));
    return Reservations[0]?.Instances?.[0];
  } catch (error) {
    if (isNewResourceNotFound(error)) return undefined;
    throw error;
  }
}

/** What the restore needs to say about an instance EC2 ended. */
export interface LaunchFailureContext {
  /** The key the launch's volumes are encrypted with. */
  kmsKeyArn: string;
  /** Who launched it (the restore role, or the worker role in the same account). */
  principal: string;
}

/**
 * A launched instance that went `shutting-down` or `terminated` on its own: EC2 accepted RunInstances
 * and then could not start it. The usual cause is a volume's key ("Client.InvalidKMSKey.InvalidState:
 * The KMS key provided is in an incorrect state",
 * https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/troubleshooting-launch.html#troubleshooting-launch-internal);
 * no retry changes that, so the step fails for good with EC2's StateReason.
 */
export function launchFailure(instance: Instance, context: LaunchFailureContext): PermanentStepError {
  const code = instance.StateReason?.Code ?? 'unknown';
  const message = instance.StateReason?.Message ?? instance.StateTransitionReason ?? 'no reason given';
  const kms = /KMS/i.test(code) || /KMS/i.test(message);
  const fix = kms
    ? `the volumes are encrypted with ${context.kmsKeyArn}: the key must be Enabled and its key policy must let ${context.principal} use it (kms:CreateGrant, kms:Decrypt, kms:GenerateDataKeyWithoutPlaintext, kms:ReEncrypt*, kms:DescribeKey), and a snapshot's key must be usable too`
    : `see https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/troubleshooting-launch.html`;
  return new PermanentStepError(
    `instance ${instance.InstanceId} was ${instance.State?.Name ?? 'terminated'} by EC2 right after launch: StateReason ${code}: ${message}; ${fix}`,
    kms ? { code: 'kms_key_unusable', category: 'kms' } : { code: 'instance_launch_failed', category: 'aws' },
  );
}

/**
 * Waits (bounded, then hands back to the queue) until the instance is in `state`; an instance that
 * ended meanwhile fails the step for good with its StateReason.
 */
export async function waitForInstanceState(
  ec2: EC2Client,
  instanceId: string,
  state: string,
  failure: LaunchFailureContext,
): Promise<Instance> {
  const reached = await pollUntil(
    async () => {
      const instance = await describeNewInstance(ec2, instanceId);
      const now = instance?.State?.Name;
      if (instance && (now === 'terminated' || now === 'shutting-down'))
        throw launchFailure(instance, failure);
      return now === state ? instance : undefined;
    },
    { timeoutMs: SHORT_WAIT_MS, quickLooks: quickLooksWithin(ec2, 'DescribeInstances') },
  );
  if (!reached) throw new StepPendingError(`instance ${instanceId} to be ${state}`, RECHECK_MS);
  return reached;
}

/**
 * Waits (bounded, then hands back to the queue) until every volume is in `state` (`in-use`: every
 * attachment `attached`), with one DescribeVolumes per look for all of them.
 */
export async function waitForVolumesState(
  ec2: EC2Client,
  volumeIds: string[],
  state: 'available' | 'in-use',
  signal?: AbortSignal,
): Promise<Volume[]> {
  if (volumeIds.length === 0) return [];
  const reached = await pollUntil(
    async () => {
      const { Volumes = [] } = await ec2.send(new DescribeVolumesCommand({ VolumeIds: volumeIds }));
      const ready = (volume: Volume) =>
        volume.State === state &&
        (state === 'available' || volume.Attachments?.every((a) => a.State === 'attached') === true);
      const byId = new Map(Volumes.map((v) => [v.VolumeId, v]));
      const all = volumeIds.map((id) => byId.get(id));
      return all.every((v) => v !== undefined && ready(v)) ? (all as Volume[]) : undefined;
    },
    {
      timeoutMs: SHORT_WAIT_MS,
      quickLooks: quickLooksWithin(ec2, 'DescribeVolumes'),
      ...(signal ? { signal } : {}),
    },
  );
  if (!reached) throw new StepPendingError(`volumes ${volumeIds.join(', ')} to be ${state}`, RECHECK_MS);
  return reached;
}

export async function waitForVolumeState(
  ec2: EC2Client,
  volumeId: string,
  state: 'available' | 'in-use',
): Promise<Volume> {
  const [volume] = await waitForVolumesState(ec2, [volumeId], state);
  return volume as Volume;
}

/**
 * Runs the tasks at once and waits for all of them to end (none keeps running unobserved after a
 * failure); then the first failure, if any, is thrown.
 */
export async function allSettledOrThrow<T extends readonly unknown[]>(
  tasks: readonly [...{ [K in keyof T]: Promise<T[K]> }],
): Promise<T> {
  const settled = await Promise.allSettled(tasks);
  const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed) throw failed.reason;
  return settled.map((s) => (s as PromiseFulfilledResult<unknown>).value) as unknown as T;
}
