/**
 * The chaos run's verdict, checked against AWS (the emulator) and the restore records: every restore
 * ended and is explained, each succeeded one made exactly what it asked for in the right account with
 * the right key, nothing is duplicated, nothing temporary is left in any account.
 */
import {
  DescribeImagesCommand,
  DescribeInstancesCommand,
  DescribeSnapshotsCommand,
  DescribeVolumesCommand,
  type EC2Client,
  type Instance,
  type Volume,
} from '@aws-sdk/client-ec2';
import { ListGrantsCommand } from '@aws-sdk/client-kms';
import { type RestoreRequest, RestoreTag } from '@ec2-restore/contracts';
import type { Restore } from '@ec2-restore/restore-state';
import type { Account } from '../../test/support/index.ts';
import type { ChaosWorld, PlannedRestore, RestoreTarget } from './world.ts';

/** A restore the run knows of: POSTed and answered 202, or found in Redis (a POST cut by an API kill). */
export interface TrackedRestore {
  id: string;
  /** Null for a restore found only in Redis. */
  plan: PlannedRestore | null;
  target: RestoreTarget | null;
  postedAt: number | null;
  endedAt: number | null;
  /** The record at the end (null: lost). */
  record: Restore<RestoreRequest> | null;
}

export interface Findings {
  /** Accepted restores with no record at the end (lost across Redis restarts). */
  lost: string[];
  /** Restores that had not ended at the bound, with their status. */
  notEnded: string[];
  /** Failed restores without a code, category and message. */
  unexplained: string[];
  /** A succeeded restore whose instance or volumes are wrong (wrong account, key, count, devices). */
  wrongResult: string[];
  /** More than one instance, or more volumes than asked, for one restore. */
  duplicates: string[];
  /** Anything temporary left: snapshots, volumes of unsuccessful restores, images, shares, grants. */
  leftovers: string[];
}

const chunks = <T>(items: readonly T[], size: number): T[][] =>
  Array.from({ length: Math.ceil(items.length / size) }, (_, i) => items.slice(i * size, (i + 1) * size));

const tagOf = (tags: { Key?: string; Value?: string }[] | undefined) =>
  tags?.find((t) => t.Key === RestoreTag.RestoreId)?.Value ?? '';

interface AccountCensus {
  instances: Map<string, Instance[]>;
  volumes: Map<string, Volume[]>;
  /** Snapshot or image id and the restore id its tag names. */
  snapshots: Array<[string, string]>;
  images: Array<[string, string]>;
}

async function censusOf(ec2: EC2Client, ids: readonly string[]): Promise<AccountCensus> {
  const census: AccountCensus = { instances: new Map(), volumes: new Map(), snapshots: [], images: [] };
  const add = <T>(map: Map<string, T[]>, key: string, value: T) =>
    map.set(key, [...(map.get(key) ?? []), value]);
  for (const part of chunks(ids, 100)) {
    const Filters = [{ Name: `tag:${RestoreTag.RestoreId}`, Values: part }];
    const { Reservations = [] } = await ec2.send(new DescribeInstancesCommand({ Filters }));
    for (const instance of Reservations.flatMap((r) => r.Instances ?? [])) {
      if (instance.State?.Name !== 'terminated' && instance.State?.Name !== 'shutting-down')
        add(census.instances, tagOf(instance.Tags), instance);
    }
    const { Volumes = [] } = await ec2.send(new DescribeVolumesCommand({ Filters }));
    for (const volume of Volumes) {
      if (volume.State !== 'deleting' && volume.State !== 'deleted')
        add(census.volumes, tagOf(volume.Tags), volume);
    }
    const { Snapshots = [] } = await ec2.send(new DescribeSnapshotsCommand({ OwnerIds: ['self'], Filters }));
    census.snapshots.push(...Snapshots.map((s): [string, string] => [s.SnapshotId ?? '', tagOf(s.Tags)]));
    const { Images = [] } = await ec2.send(new DescribeImagesCommand({ Owners: ['self'], Filters }));
    census.images.push(...Images.map((i): [string, string] => [i.ImageId ?? '', tagOf(i.Tags)]));
  }
  return census;
}

/** Checks every tracked restore (all must have ended and had their cleanup run). */
export async function checkRestores(
  world: ChaosWorld,
  tracked: readonly TrackedRestore[],
): Promise<Findings> {
  const findings: Findings = {
    lost: [],
    notEnded: [],
    unexplained: [],
    wrongResult: [],
    duplicates: [],
    leftovers: [],
  };
  const { source, target, sourceDefaultKey } = world.accounts;
  const ids = tracked.map((t) => t.id);
  const censuses = new Map<string, AccountCensus>([
    [source.id, await censusOf(source.aws.ec2, ids)],
    [target.id, await censusOf(target.aws.ec2, ids)],
  ]);
  const accounts: Account[] = [source, target];

  // What a restore still running at the bound holds is not left behind (yet): it is `notEnded`.
  const ended = new Set(tracked.filter((t) => t.endedAt !== null).map((t) => t.id));
  const snapshotOwner = new Map<string, string>();
  for (const [accountId, census] of censuses) {
    for (const [snapshotId, restoreId] of census.snapshots) {
      snapshotOwner.set(snapshotId, restoreId);
      if (ended.has(restoreId))
        findings.leftovers.push(`snapshot ${snapshotId} of ${restoreId} in ${accountId}`);
    }
    for (const [imageId, restoreId] of census.images) {
      if (ended.has(restoreId)) findings.leftovers.push(`image ${imageId} of ${restoreId} in ${accountId}`);
    }
  }
  const { Snapshots: shared = [] } = await target.aws.ec2.send(
    new DescribeSnapshotsCommand({ OwnerIds: [source.id], RestorableByUserIds: ['self'] }),
  );
  for (const s of shared) {
    const owner = snapshotOwner.get(s.SnapshotId ?? '');
    if (owner === undefined || ended.has(owner))
      findings.leftovers.push(
        `snapshot ${s.SnapshotId} (${owner ?? 'untagged'}) still shared with ${target.id}`,
      );
  }
  const { Grants = [] } = await source.aws.kms.send(new ListGrantsCommand({ KeyId: sourceDefaultKey }));
  for (const g of Grants) {
    const restoreId = g.Name?.replace(/^ec2-restore-/, '') ?? '';
    if (ended.has(restoreId))
      findings.leftovers.push(`grant ${g.GrantId} (${g.Name}) on the source default key`);
  }

  for (const t of tracked) {
    const { id, record } = t;
    if (record === null) {
      findings.lost.push(id);
      continue;
    }
    if (t.endedAt === null) {
      const steps = record.steps.map(
        (s) => `${s.name} ${s.status}${s.attempts > 1 ? ` x${s.attempts}` : ''}`,
      );
      findings.notEnded.push(`${id} ${record.status} (${steps.join(', ')})`);
      continue;
    }
    if (
      record.status === 'failed' &&
      !(record.error?.code && record.error.category && record.error.message)
    ) {
      findings.unexplained.push(`${id}: ${JSON.stringify(record.error)}`);
    }
    const made = accounts.map((a) => ({
      account: a,
      instances: censuses.get(a.id)?.instances.get(id) ?? [],
      volumes: censuses.get(a.id)?.volumes.get(id) ?? [],
    }));
    if (record.status !== 'succeeded' || !record.result) {
      for (const m of made) {
        for (const i of m.instances)
          findings.leftovers.push(`instance ${i.InstanceId} of ${record.status} ${id}`);
        for (const v of m.volumes) findings.leftovers.push(`volume ${v.VolumeId} of ${record.status} ${id}`);
      }
      continue;
    }
    const result = record.result;
    const expectedAccount = t.target?.accountId ?? record.request.target.accountId;
    const expectedKey = t.target?.keyArn ?? record.request.target.kmsKeyId;
    const devices = record.progress.volumes.map((v) => v.deviceName).sort();
    const volumeLevel = record.request.volumes !== undefined;
    if (result.accountId !== expectedAccount) findings.wrongResult.push(`${id}: in ${result.accountId}`);
    for (const m of made) {
      const mine = m.account.id === expectedAccount;
      if (!mine) {
        for (const v of m.volumes)
          findings.leftovers.push(`volume ${v.VolumeId} of ${id} in ${m.account.id}`);
        for (const i of m.instances)
          findings.leftovers.push(`instance ${i.InstanceId} of ${id} in ${m.account.id}`);
        continue;
      }
      const instanceCount = volumeLevel ? 0 : 1;
      if (m.instances.length > instanceCount || m.volumes.length > devices.length) {
        findings.duplicates.push(`${id}: ${m.instances.length} instances, ${m.volumes.length} volumes`);
      }
      if (
        m.instances.length !== instanceCount ||
        (!volumeLevel && m.instances[0]?.InstanceId !== result.instanceId)
      ) {
        findings.wrongResult.push(
          `${id}: instances ${m.instances.map((i) => i.InstanceId)} vs ${result.instanceId}`,
        );
      }
      const volumeIds = m.volumes.map((v) => v.VolumeId).sort();
      const resultIds = result.volumes.map((v) => v.volumeId).sort();
      if (JSON.stringify(volumeIds) !== JSON.stringify(resultIds))
        findings.wrongResult.push(`${id}: volumes ${volumeIds} vs result ${resultIds}`);
      if (JSON.stringify(result.volumes.map((v) => v.deviceName).sort()) !== JSON.stringify(devices))
        findings.wrongResult.push(`${id}: devices ${result.volumes.map((v) => v.deviceName)} vs ${devices}`);
      for (const v of m.volumes) {
        if (!v.Encrypted || v.KmsKeyId !== expectedKey)
          findings.wrongResult.push(`${id}: volume ${v.VolumeId} key ${v.KmsKeyId} vs ${expectedKey}`);
      }
    }
  }
  return findings;
}
