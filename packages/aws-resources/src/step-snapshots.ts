import type { EC2Client, Filter, Snapshot } from '@aws-sdk/client-ec2';
import { RestoreTag } from '@ec2-restore/contracts';
import { findTaggedSnapshots, type RestoreOwner } from './tagged-resources.ts';

/** Tag of a worker-volume snapshot naming the temporary volume it was taken from (set at creation). */
export const SOURCE_VOLUME_TAG = 'ec2-restore:source-volume';

/** The description the snapshot step gives each snapshot it makes. */
export function stepSnapshotDescription(restoreId: string, deviceName: string): string {
  return `ec2-restore ${restoreId} ${deviceName}`;
}

/**
 * Whether a snapshot carrying a restore's tags is one the restore's snapshot step made, and not one
 * another tool made with those tags copied: AWS Backup or Data Lifecycle Manager snapshotting the
 * temporary worker volume copy the volume's tags, and a copy of one of our snapshots carries ours.
 * A worker-volume snapshot is recognised by its volume id: its VolumeId must be the temporary volume
 * its source-volume tag names (a snapshot of that volume by another tool lacks the tag; a copy has
 * another VolumeId). An EBS direct snapshot has no source volume; it carries the step's description.
 * Snapshots of other steps (none today) are taken as they are.
 */
export function isStepSnapshot(snapshot: Snapshot): boolean {
  const tag = (key: string) => snapshot.Tags?.find((t) => t.Key === key)?.Value;
  if (tag(RestoreTag.Step) !== 'snapshot') return true;
  const sourceVolume = tag(SOURCE_VOLUME_TAG);
  if (sourceVolume !== undefined) return snapshot.VolumeId === sourceVolume;
  return snapshot.Description?.startsWith(`ec2-restore ${tag(RestoreTag.RestoreId)} `) === true;
}

/** The snapshots of a restore (step, device) that its steps made: by tag, then {@link isStepSnapshot}. */
export async function findStepSnapshots(ec2: EC2Client, owner: RestoreOwner | Filter[]): Promise<Snapshot[]> {
  return (await findTaggedSnapshots(ec2, owner)).filter(isStepSnapshot);
}
