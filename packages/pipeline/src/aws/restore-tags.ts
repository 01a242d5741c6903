import {
  DescribeInstancesCommand,
  DescribeSnapshotsCommand,
  DescribeVolumesCommand,
  type EC2Client,
  type Filter,
  type Instance,
  type ResourceType,
  type Snapshot,
  type Tag,
  type TagSpecification,
  type Volume,
} from '@aws-sdk/client-ec2';
import { RestoreTag } from '@ec2-restore/contracts';

/** Which restore and step made a resource (and for which device, when per volume). */
export interface RestoreResourceTag {
  restoreId: string;
  step: string;
  deviceName?: string;
}

export function restoreTags(owner: RestoreResourceTag, extra: Record<string, string> = {}): Tag[] {
  const tags: Tag[] = Object.entries(extra).map(([Key, Value]) => ({ Key, Value }));
  tags.push(
    { Key: RestoreTag.RestoreId, Value: owner.restoreId },
    { Key: RestoreTag.Step, Value: owner.step },
  );
  if (owner.deviceName) tags.push({ Key: RestoreTag.Device, Value: owner.deviceName });
  return tags;
}

/** Tags applied by the create call itself, so a resource never exists untagged (no leak on a crash). */
export function tagSpecification(resourceType: ResourceType, tags: Tag[]): TagSpecification[] {
  return [{ ResourceType: resourceType, Tags: tags }];
}

function tagFilters(owner: Partial<RestoreResourceTag> & { restoreId: string }): Filter[] {
  const filters: Filter[] = [{ Name: `tag:${RestoreTag.RestoreId}`, Values: [owner.restoreId] }];
  if (owner.step) filters.push({ Name: `tag:${RestoreTag.Step}`, Values: [owner.step] });
  if (owner.deviceName) filters.push({ Name: `tag:${RestoreTag.Device}`, Values: [owner.deviceName] });
  return filters;
}

/** Volumes a restore (step, device) made, not deleted. */
export async function findTaggedVolumes(
  ec2: EC2Client,
  owner: Partial<RestoreResourceTag> & { restoreId: string },
): Promise<Volume[]> {
  const volumes: Volume[] = [];
  let NextToken: string | undefined;
  do {
    const page = await ec2.send(new DescribeVolumesCommand({ Filters: tagFilters(owner), NextToken }));
    volumes.push(...(page.Volumes ?? []).filter((v) => v.State !== 'deleting' && v.State !== 'deleted'));
    NextToken = page.NextToken;
  } while (NextToken);
  return volumes;
}

/** Snapshots a restore (step, device) made in the caller's own account. */
export async function findTaggedSnapshots(
  ec2: EC2Client,
  owner: Partial<RestoreResourceTag> & { restoreId: string },
): Promise<Snapshot[]> {
  const snapshots: Snapshot[] = [];
  let NextToken: string | undefined;
  do {
    const page = await ec2.send(
      new DescribeSnapshotsCommand({ OwnerIds: ['self'], Filters: tagFilters(owner), NextToken }),
    );
    snapshots.push(...(page.Snapshots ?? []));
    NextToken = page.NextToken;
  } while (NextToken);
  return snapshots;
}

/** Tag of a worker-volume snapshot naming the temporary volume it was taken from (set at creation). */
export const SOURCE_VOLUME_TAG = 'ec2-restore:source-volume';

/** The description the snapshot step gives each snapshot it makes. */
export function stepSnapshotDescription(restoreId: string, deviceName: string): string {
  return `ec2-restore ${restoreId} ${deviceName}`;
}

/**
 * Whether a snapshot carrying a restore's tags is one the restore's snapshot step made, and not one
 * another tool made with those tags copied: AWS Backup or Data Lifecycle Manager snapshotting the
 * temporary worker volume copy the volume's tags, and a copy of one of our snapshots carries our tags.
 * A worker-volume snapshot is recognised by its volume id: its VolumeId must be the temporary volume
 * its source-volume tag names (a snapshot of that volume by another tool lacks the tag; a copy has
 * another VolumeId). An EBS direct snapshot has no source volume; it carries the step's description.
 */
export function isStepSnapshot(snapshot: Snapshot, restoreId: string): boolean {
  const sourceVolume = snapshot.Tags?.find((t) => t.Key === SOURCE_VOLUME_TAG)?.Value;
  if (sourceVolume !== undefined) return snapshot.VolumeId === sourceVolume;
  return snapshot.Description?.startsWith(`ec2-restore ${restoreId} `) === true;
}

/** The snapshots the snapshot step of a restore (device) made: by tag, then {@link isStepSnapshot}. */
export async function findStepSnapshots(
  ec2: EC2Client,
  owner: Partial<RestoreResourceTag> & { restoreId: string },
): Promise<Snapshot[]> {
  return (await findTaggedSnapshots(ec2, owner)).filter((s) => isStepSnapshot(s, owner.restoreId));
}

/** Instances a restore made that are not terminated. */
export async function findTaggedInstances(
  ec2: EC2Client,
  owner: Partial<RestoreResourceTag> & { restoreId: string },
): Promise<Instance[]> {
  const instances: Instance[] = [];
  let NextToken: string | undefined;
  do {
    const page = await ec2.send(
      new DescribeInstancesCommand({
        Filters: [
          ...tagFilters(owner),
          { Name: 'instance-state-name', Values: ['pending', 'running', 'stopping', 'stopped'] },
        ],
        NextToken,
      }),
    );
    for (const reservation of page.Reservations ?? []) instances.push(...(reservation.Instances ?? []));
    NextToken = page.NextToken;
  } while (NextToken);
  return instances;
}
