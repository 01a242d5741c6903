/**
 * Finding what restores made, by their tags, with the SDK's paginators (every page, any size). Every
 * resource a restore creates carries the `RestoreTag` tags from its create call, so a search by tag
 * finds it even after a crash.
 */
import {
  type EC2Client,
  type Filter,
  type Instance,
  paginateDescribeInstances,
  paginateDescribeSnapshots,
  paginateDescribeVolumes,
  type Snapshot,
  type Volume,
} from '@aws-sdk/client-ec2';
import { RestoreTag } from '@ec2-restore/contracts';

/** Which restore and step made a resource (and for which device, when per volume). */
export interface RestoreResourceTag {
  restoreId: string;
  step: string;
  deviceName?: string;
}

/** Resources of one restore, optionally of one step and device. */
export type RestoreOwner = Partial<RestoreResourceTag> & { restoreId: string };

/** Any resource of any restore: the product's tag key, so an untagged resource is never even seen. */
export const anyRestoreFilter: Filter[] = [{ Name: 'tag-key', Values: [RestoreTag.RestoreId] }];

/** The filters of one restore's resources (and step, device). */
export function restoreFilters(owner: RestoreOwner): Filter[] {
  const filters: Filter[] = [{ Name: `tag:${RestoreTag.RestoreId}`, Values: [owner.restoreId] }];
  if (owner.step) filters.push({ Name: `tag:${RestoreTag.Step}`, Values: [owner.step] });
  if (owner.deviceName) filters.push({ Name: `tag:${RestoreTag.Device}`, Values: [owner.deviceName] });
  return filters;
}

const filtersOf = (owner: RestoreOwner | Filter[]) => (Array.isArray(owner) ? owner : restoreFilters(owner));

/** Volumes matching the filters (a restore's, or any restore's), not being deleted. */
export async function findTaggedVolumes(ec2: EC2Client, owner: RestoreOwner | Filter[]): Promise<Volume[]> {
  const volumes: Volume[] = [];
  for await (const page of paginateDescribeVolumes({ client: ec2 }, { Filters: filtersOf(owner) })) {
    volumes.push(...(page.Volumes ?? []).filter((v) => v.State !== 'deleting' && v.State !== 'deleted'));
  }
  return volumes;
}

/**
 * Snapshots matching the filters that the caller's account owns (`OwnerIds: self`): a snapshot
 * shared with this account by another is not this account's to remove.
 */
export async function findTaggedSnapshots(
  ec2: EC2Client,
  owner: RestoreOwner | Filter[],
): Promise<Snapshot[]> {
  const snapshots: Snapshot[] = [];
  const input = { OwnerIds: ['self'], Filters: filtersOf(owner) };
  for await (const page of paginateDescribeSnapshots({ client: ec2 }, input)) {
    snapshots.push(...(page.Snapshots ?? []));
  }
  return snapshots;
}

/** Instances matching the filters that are not terminated (nor shutting down). */
export async function findTaggedInstances(
  ec2: EC2Client,
  owner: RestoreOwner | Filter[],
): Promise<Instance[]> {
  const instances: Instance[] = [];
  const Filters = [
    ...filtersOf(owner),
    { Name: 'instance-state-name', Values: ['pending', 'running', 'stopping', 'stopped'] },
  ];
  for await (const page of paginateDescribeInstances({ client: ec2 }, { Filters })) {
    for (const reservation of page.Reservations ?? []) instances.push(...(reservation.Instances ?? []));
  }
  return instances;
}
