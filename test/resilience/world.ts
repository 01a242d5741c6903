/**
 * Shared parts of the resilience e2e tests: a cross-account world (two fresh emulator accounts),
 * a backup, the real API over HTTP, and the leftover census by the product's tags (RestoreTag).
 */
import {
  DescribeInstancesCommand,
  DescribeSnapshotsCommand,
  DescribeVolumesCommand,
  type EC2Client,
  type Instance,
  type Snapshot,
  type Volume,
} from '@aws-sdk/client-ec2';
import { RestoreTag } from '@ec2-restore/contracts';
import type { Restore } from '@ec2-restore/restore-state';
import { type ApiServer, startApiServer } from '../pipeline/api-server.ts';
import {
  type Backup,
  type CrossAccountWorld,
  createBackup,
  crossAccountWorld,
  openPipeline,
  type Pipeline,
  REGION,
} from '../pipeline/harness.ts';

export interface ResilienceWorld {
  pipeline: Pipeline;
  backup: Backup;
  world: CrossAccountWorld;
  api: ApiServer;
  close(): Promise<void>;
}

/** Its own queue/state prefixes, its own two accounts, one backup and the API over HTTP. */
export async function openWorld(backup?: Backup): Promise<ResilienceWorld> {
  const pipeline = openPipeline();
  const b = backup ?? (await createBackup(['/dev/xvda']));
  const world = await crossAccountWorld();
  const api = await startApiServer(pipeline, b, world.source.id);
  return {
    pipeline,
    backup: b,
    world,
    api,
    async close() {
      await api.close();
      await pipeline.close();
      world.source.aws.destroy();
      world.target.aws.destroy();
    },
  };
}

/** The body of a cross-account restore of the world's restore point. */
export function restoreBody(w: ResilienceWorld, name = 'restored'): object {
  return {
    restorePointId: w.backup.restorePoint.id,
    target: {
      accountId: w.world.target.id,
      region: REGION,
      roleArn: w.world.roleArn,
      externalId: w.world.externalId,
      kmsKeyId: w.world.targetKey,
    },
    instance: { name, subnetId: w.world.targetSubnetId, powerOn: true },
    kmsGrant: 'auto',
  };
}

/** POST /v1/restores; expects 202 and returns the restore. */
export async function postRestore(
  w: ResilienceWorld,
  body: object,
  headers: Record<string, string> = {},
): Promise<{ status: number; restore: Restore }> {
  const response = await w.api.call('/v1/restores', { method: 'POST', json: body, headers });
  const restore = (await response.json()) as Restore;
  return { status: response.status, restore };
}

/** Polls the store until `predicate` holds for the restore (or throws after `timeoutMs`). */
export async function waitUntil(
  w: ResilienceWorld,
  id: string,
  predicate: (r: Restore) => boolean,
  timeoutMs = 120_000,
  everyMs = 50,
): Promise<Restore> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const restore = await w.pipeline.store.get(id);
    if (restore && predicate(restore)) return restore;
    if (Date.now() > deadline) throw new Error(`condition not reached for ${id}: ${JSON.stringify(restore)}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** Status of a restore's cleanup step. */
export function cleanupStatus(restore: Restore): string | undefined {
  return restore.steps.find((s) => s.name === 'cleanup')?.status;
}

function byRestoreIds(ids: readonly string[]) {
  return [{ Name: `tag:${RestoreTag.RestoreId}`, Values: [...ids] }];
}

async function snapshotsOf(ec2: EC2Client, ids: readonly string[]): Promise<Snapshot[]> {
  const { Snapshots = [] } = await ec2.send(
    new DescribeSnapshotsCommand({ OwnerIds: ['self'], Filters: byRestoreIds(ids) }),
  );
  return Snapshots;
}

async function volumesOf(ec2: EC2Client, ids: readonly string[]): Promise<Volume[]> {
  const { Volumes = [] } = await ec2.send(new DescribeVolumesCommand({ Filters: byRestoreIds(ids) }));
  return Volumes.filter((v) => v.State !== 'deleting' && v.State !== 'deleted');
}

async function liveInstancesOf(ec2: EC2Client, ids: readonly string[]): Promise<Instance[]> {
  const { Reservations = [] } = await ec2.send(new DescribeInstancesCommand({ Filters: byRestoreIds(ids) }));
  return Reservations.flatMap((r) => r.Instances ?? []).filter(
    (i) => i.State?.Name !== 'terminated' && i.State?.Name !== 'shutting-down',
  );
}

export interface Census {
  /** Source account: the temporary snapshots and volumes the restores made, still there. */
  sourceSnapshots: Snapshot[];
  sourceVolumes: Volume[];
  /** Snapshots of the source account the target account may still use (shared and not withdrawn). */
  sharedWithTarget: Snapshot[];
  /** Target account: what the restores made there (instances not terminated, volumes not deleted). */
  targetInstances: Instance[];
  targetVolumes: Volume[];
}

/** Everything tagged with one of the restore ids, in both accounts. */
export async function census(w: ResilienceWorld, ids: readonly string[]): Promise<Census> {
  const { source, target } = w.world;
  const { Snapshots: restorable = [] } = await target.aws.ec2.send(
    new DescribeSnapshotsCommand({ OwnerIds: [source.id], RestorableByUserIds: ['self'] }),
  );
  return {
    sourceSnapshots: await snapshotsOf(source.aws.ec2, ids),
    sourceVolumes: await volumesOf(source.aws.ec2, ids),
    sharedWithTarget: restorable,
    targetInstances: await liveInstancesOf(target.aws.ec2, ids),
    targetVolumes: await volumesOf(target.aws.ec2, ids),
  };
}

/** What nothing-left-behind looks like, for toEqual. */
export const EMPTY_CENSUS: Census = {
  sourceSnapshots: [],
  sourceVolumes: [],
  sharedWithTarget: [],
  targetInstances: [],
  targetVolumes: [],
};
