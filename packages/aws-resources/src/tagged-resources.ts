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

/** Every item of every page. */
async function collect<Page, Item>(pages: AsyncIterable<Page>, items: (page: Page) => Item[] | undefined) {
  const all: Item[] = [];
  for await (const page of pages) all.push(...(items(page) ?? []));
  return all;
}

/** Volumes matching the filters (a restore's, or any restore's), not being deleted. */
export async function findTaggedVolumes(ec2: EC2Client, owner: RestoreOwner | Filter[]): Promise<Volume[]> {
  const pages = paginateDescribeVolumes({ client: ec2 }, { Filters: filtersOf(owner) });
  const volumes = await collect(pages, (page) => page.Volumes);
  return volumes.filter((v) => v.State !== 'deleting' && v.State !== 'deleted');
}

/**
 * Snapshots matching the filters that the caller's account owns (`OwnerIds: self`): a snapshot
 * shared with this account by another is not this account's to remove.
 */
export function findTaggedSnapshots(ec2: EC2Client, owner: RestoreOwner | Filter[]): Promise<Snapshot[]> {
  const pages = paginateDescribeSnapshots({ client: ec2 }, { OwnerIds: ['self'], Filters: filtersOf(owner) });
  return collect(pages, (page) => page.Snapshots);
}

/** Instances matching the filters that are not terminated (nor shutting down). */
export function findTaggedInstances(ec2: EC2Client, owner: RestoreOwner | Filter[]): Promise<Instance[]> {
  const live = { Name: 'instance-state-name', Values: ['pending', 'running', 'stopping', 'stopped'] };
  const pages = paginateDescribeInstances({ client: ec2 }, { Filters: [...filtersOf(owner), live] });
  return collect(pages, (page) => page.Reservations?.flatMap((r) => r.Instances ?? []));
}
