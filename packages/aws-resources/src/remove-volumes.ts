import {
  CreateTagsCommand,
  DeleteVolumeCommand,
  DescribeVolumesCommand,
  DetachVolumeCommand,
  type EC2Client,
  type Volume,
} from '@aws-sdk/client-ec2';
import { ifStillThere, isNotFound } from './not-found.ts';

/**
 * Tag set on a volume when it is first asked to detach: the start of its bounded wait. On the volume,
 * so the wait spans job retries, worker restarts and sweeps.
 */
export const DETACH_REQUESTED_TAG = 'ec2-restore:detach-requested-at';
/** How long a polite (not forced) detach may take before the volume is reported instead. */
export const DETACH_GRACE_MS = 10 * 60_000;

export interface RemoveVolumesOptions {
  /**
   * The instances the restore itself launched: the only ones a volume is force-detached from.
   * @defaultValue none (never force)
   */
  launchedInstances?: ReadonlySet<string>;
  /** How long this call waits for detached volumes to become `available` before it answers `detaching`. */
  waitMs: number;
  /** @defaultValue {@link DETACH_GRACE_MS} */
  graceMs?: number;
  /** @defaultValue 500 */
  pollMs?: number;
}

/** What became of one volume. */
export type VolumeRemoval =
  | { volumeId: string; outcome: 'deleted'; detached?: 'normal' | 'forced' }
  /** It no longer existed. */
  | { volumeId: string; outcome: 'gone' }
  /** Asked to detach, within the grace: look again later. */
  | { volumeId: string; outcome: 'detaching'; attachedTo: string[] }
  /** Still attached after the grace to an instance it is not forced off: for a person. */
  | { volumeId: string; outcome: 'stuck'; attachedTo: string[]; detachRequestedAt: string };

const attachedTo = (volume: Volume) =>
  (volume.Attachments ?? []).filter((a) => a.State !== 'detached').flatMap((a) => a.InstanceId ?? []);

/**
 * Detaches (when attached) and deletes volumes (DeleteVolume needs `available`,
 * https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DeleteVolume.html). A volume is
 * force-detached only from an instance the restore launched: force gives the instance no chance to
 * flush its caches (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DetachVolume.html).
 * From any other instance (a customer's, the snapshot worker) it is detached politely, waited for up
 * to `graceMs` since the first request (across calls, by {@link DETACH_REQUESTED_TAG}), and then
 * reported as `stuck`, never forced. All detaches are asked for first, so they proceed together.
 */
export async function removeVolumes(
  ec2: EC2Client,
  volumes: readonly Volume[],
  options: RemoveVolumesOptions,
): Promise<VolumeRemoval[]> {
  const launched = options.launchedInstances ?? new Set<string>();
  const graceMs = options.graceMs ?? DETACH_GRACE_MS;
  const results = new Map<string, VolumeRemoval>();
  const detached = new Map<string, 'normal' | 'forced'>();
  const requested = new Map<string, string>();
  for (const volume of volumes) {
    const volumeId = volume.VolumeId ?? '';
    const attachments = (volume.Attachments ?? []).filter((a) => a.State !== 'detached');
    if (attachments.length === 0) continue;
    let requestedAt = volume.Tags?.find((t) => t.Key === DETACH_REQUESTED_TAG)?.Value;
    if (!requestedAt) {
      requestedAt = new Date().toISOString();
      const tag = { Key: DETACH_REQUESTED_TAG, Value: requestedAt };
      const tagged = await ifStillThere(() =>
        ec2.send(new CreateTagsCommand({ Resources: [volumeId], Tags: [tag] })),
      );
      if (!tagged) {
        results.set(volumeId, { volumeId, outcome: 'gone' });
        continue;
      }
    }
    requested.set(volumeId, requestedAt);
    for (const attachment of attachments) {
      const force = attachment.InstanceId !== undefined && launched.has(attachment.InstanceId);
      if (attachment.State === 'detaching' && !force) continue;
      const detach = new DetachVolumeCommand({
        VolumeId: volumeId,
        InstanceId: attachment.InstanceId,
        Device: attachment.Device,
        ...(force ? { Force: true } : {}),
      });
      if (await ifStillThere(() => ec2.send(detach))) detached.set(volumeId, force ? 'forced' : 'normal');
    }
  }
  for (const volume of volumes) {
    const volumeId = volume.VolumeId ?? '';
    if (results.has(volumeId)) continue;
    const state = await waitUntilDetached(ec2, volumeId, options.waitMs, options.pollMs ?? 500);
    const requestedAt = requested.get(volumeId);
    if (state === 'attached' && requestedAt && Date.now() - Date.parse(requestedAt) >= graceMs) {
      const stuck = { volumeId, attachedTo: attachedTo(volume), detachRequestedAt: requestedAt };
      results.set(volumeId, { ...stuck, outcome: 'stuck' });
    } else if (state === 'attached') {
      results.set(volumeId, { volumeId, outcome: 'detaching', attachedTo: attachedTo(volume) });
    } else if (
      state === 'available' &&
      (await ifStillThere(() => ec2.send(new DeleteVolumeCommand({ VolumeId: volumeId }))))
    ) {
      const how = detached.get(volumeId);
      results.set(volumeId, { volumeId, outcome: 'deleted', ...(how ? { detached: how } : {}) });
    } else {
      results.set(volumeId, { volumeId, outcome: 'gone' });
    }
  }
  return volumes.map((v) => results.get(v.VolumeId ?? '') as VolumeRemoval);
}

/** Waits (bounded) until the volume is neither attached nor still being created. */
async function waitUntilDetached(
  ec2: EC2Client,
  volumeId: string,
  timeoutMs: number,
  pollMs: number,
): Promise<'available' | 'attached' | 'gone'> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const { Volumes = [] } = await ec2.send(new DescribeVolumesCommand({ VolumeIds: [volumeId] }));
      const state = Volumes[0]?.State;
      if (state === undefined || state === 'deleting' || state === 'deleted') return 'gone';
      if (state !== 'in-use' && state !== 'creating') return 'available';
    } catch (error) {
      if (isNotFound(error)) return 'gone';
      throw error;
    }
    if (Date.now() + pollMs > deadline) return 'attached';
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
}

/** One line per volume that could not be removed yet, or at all, for a report or an error. */
export function describeVolumeRemoval(removal: VolumeRemoval): string {
  switch (removal.outcome) {
    case 'stuck':
      return (
        `${removal.volumeId} is still attached to ${removal.attachedTo.join(', ')} (detach asked at ` +
        `${removal.detachRequestedAt}) and is not forced off an instance the restore did not launch ` +
        '(the instance may still use it): unmount it in the instance, detach it, and delete it'
      );
    case 'detaching':
      return `${removal.volumeId} is detaching from ${removal.attachedTo.join(', ')}; it is deleted once available`;
    case 'deleted':
      return `${removal.volumeId} deleted${removal.detached ? ` (detached, ${removal.detached})` : ''}`;
    case 'gone':
      return `${removal.volumeId} was already gone`;
  }
}
