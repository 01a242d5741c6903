/**
 * The sweep: finds what restores left behind in the source account and in every target account,
 * and removes the temporary resources of restores that are finished or unknown (see
 * {@link findLeftovers} for the rules). The safety net behind the pipeline's cleanup step, for what a
 * crash or a bug left behind.
 */
import {
  DeleteSnapshotCommand,
  DeleteVolumeCommand,
  DescribeSnapshotAttributeCommand,
  DescribeSnapshotsCommand,
  DescribeVolumesCommand,
  DetachVolumeCommand,
  type EC2Client,
  type Filter,
  ModifySnapshotAttributeCommand,
  type Tag,
} from '@aws-sdk/client-ec2';
import { GetCallerIdentityCommand } from '@aws-sdk/client-sts';
import {
  type AwsClients,
  type AwsCredentials,
  assumeRoleCredentials,
  classifyAwsError,
  createAwsClients,
} from '@ec2-restore/aws-clients';
import { RestoreTag } from '@ec2-restore/contracts';
import type { RestoreStatus, RestoreStore } from '@ec2-restore/restore-state';
import {
  findLeftovers,
  type PlannedRemoval,
  type SkippedResource,
  type TaggedResource,
} from './find-leftovers.ts';

/** The account the workers run as (it holds the temporary snapshots and worker volumes). */
export interface SweepSource {
  /** @defaultValue the SDK's default chain */
  credentials?: AwsCredentials;
  /** Swept always; the regions of the targets are swept in this account too (snapshot jobs run there). */
  region: string;
  /** @defaultValue `process.env.AWS_ENDPOINT_URL` */
  endpoint?: string;
}

/** A restore role in a target account, assumed from the source credentials. */
export interface SweepTarget {
  roleArn: string;
  externalId?: string;
  region: string;
}

export interface SweepOptions {
  store: RestoreStore;
  source: SweepSource;
  /** Configured targets; the targets named by the stored restores' requests are added. */
  targets: readonly SweepTarget[];
  /** Resources younger than this are left alone. */
  minAgeMinutes: number;
  /** Report what would be removed, remove nothing. */
  dryRun: boolean;
  /**
   * How many stored restores are read to learn target roles (newest first).
   * @defaultValue 1000
   */
  restoresToScan?: number;
  /**
   * How long to wait for a volume to detach before detaching it with force, and again after.
   * @defaultValue 30000
   */
  detachTimeoutMs?: number;
  /** @defaultValue `() => new Date()` */
  now?: () => Date;
}

/** One account and region that was searched. */
export interface ScannedLocation {
  accountId: string;
  region: string;
  /** The role assumed, for target accounts. */
  roleArn?: string;
  volumes: number;
  snapshots: number;
}

export interface RemovedResource extends PlannedRemoval {
  /** Accounts (or `all` for public) whose createVolumePermission was withdrawn first. */
  unsharedFrom: string[];
  /** Volumes: how the volume was detached before deletion, if it was attached. */
  detached?: 'normal' | 'forced';
}

export interface FailedRemoval extends PlannedRemoval {
  error: string;
}

/** A location that could not be searched (e.g. the role could not be assumed). */
export interface LocationError {
  roleArn?: string;
  region: string;
  error: string;
}

export interface SweepReport {
  dryRun: boolean;
  startedAt: string;
  finishedAt: string;
  minAgeMinutes: number;
  scanned: ScannedLocation[];
  /** Every resource carrying the product's restore-id tag. */
  found: TaggedResource[];
  /** What the rules chose; removed (or, in a dry run, would be removed). */
  planned: PlannedRemoval[];
  removed: RemovedResource[];
  skipped: SkippedResource[];
  failed: FailedRemoval[];
  locationErrors: LocationError[];
}

const DEFAULT_DETACH_TIMEOUT_MS = 30_000;

/** The product's tag key: the only filter that finds resources, so untagged ones are never seen. */
const productTagFilter: Filter[] = [{ Name: 'tag-key', Values: [RestoreTag.RestoreId] }];

function tagsOf(tags: Tag[] | undefined): Record<string, string> {
  return Object.fromEntries((tags ?? []).flatMap((t) => (t.Key ? [[t.Key, t.Value ?? '']] : [])));
}

function errorText(error: unknown): string {
  const classified = classifyAwsError(error);
  return `${classified.code}: ${classified.message}`;
}

function isNotFound(error: unknown): boolean {
  return /NotFound$/.test(classifyAwsError(error).code);
}

/** Every volume and snapshot (owned by the account) that carries the restore-id tag. */
async function findTaggedResources(ec2: EC2Client, accountId: string, region: string) {
  const resources: TaggedResource[] = [];
  let NextToken: string | undefined;
  do {
    const page = await ec2.send(new DescribeVolumesCommand({ Filters: productTagFilter, NextToken }));
    for (const v of page.Volumes ?? []) {
      resources.push({
        kind: 'volume',
        id: v.VolumeId ?? '',
        accountId,
        region,
        tags: tagsOf(v.Tags),
        createdAt: v.CreateTime,
        state: v.State,
      });
    }
    NextToken = page.NextToken;
  } while (NextToken);
  do {
    // OwnerIds self: snapshots shared with this account by others are not ours to delete.
    const page = await ec2.send(
      new DescribeSnapshotsCommand({ OwnerIds: ['self'], Filters: productTagFilter, NextToken }),
    );
    for (const s of page.Snapshots ?? []) {
      resources.push({
        kind: 'snapshot',
        id: s.SnapshotId ?? '',
        accountId,
        region,
        tags: tagsOf(s.Tags),
        createdAt: s.StartTime,
        state: s.State,
      });
    }
    NextToken = page.NextToken;
  } while (NextToken);
  return resources;
}

/**
 * Withdraws every createVolumePermission, then deletes the snapshot. Deleting a shared snapshot is
 * allowed, but unsharing first means a target that raced us cannot start a CreateVolume from it.
 * https://docs.aws.amazon.com/ebs/latest/userguide/modify-snapshot-attribute.html
 */
async function removeSnapshot(ec2: EC2Client, planned: PlannedRemoval): Promise<RemovedResource> {
  const SnapshotId = planned.resource.id;
  const { CreateVolumePermissions = [] } = await ec2.send(
    new DescribeSnapshotAttributeCommand({ SnapshotId, Attribute: 'createVolumePermission' }),
  );
  const unsharedFrom = CreateVolumePermissions.flatMap((p) => p.UserId ?? p.Group ?? []);
  if (CreateVolumePermissions.length > 0) {
    await ec2.send(
      new ModifySnapshotAttributeCommand({
        SnapshotId,
        Attribute: 'createVolumePermission',
        CreateVolumePermission: { Remove: CreateVolumePermissions },
      }),
    );
  }
  await ec2.send(new DeleteSnapshotCommand({ SnapshotId }));
  return { ...planned, unsharedFrom };
}

/** Waits until the volume is no longer attached; true when it is available (or gone). */
async function waitUntilDetached(ec2: EC2Client, volumeId: string, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const { Volumes = [] } = await ec2.send(new DescribeVolumesCommand({ VolumeIds: [volumeId] }));
      const state = Volumes[0]?.State;
      if (state === undefined || state === 'available') return true;
    } catch (error) {
      if (isNotFound(error)) return true;
      throw error;
    }
    if (Date.now() >= deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

/**
 * Detaches (politely first, with force only when that does not finish in time) and deletes a
 * volume. DeleteVolume requires the `available` state.
 * https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DeleteVolume.html
 */
async function removeVolume(
  ec2: EC2Client,
  planned: PlannedRemoval,
  detachTimeoutMs: number,
): Promise<RemovedResource> {
  const VolumeId = planned.resource.id;
  const { Volumes = [] } = await ec2.send(new DescribeVolumesCommand({ VolumeIds: [VolumeId] }));
  const volume = Volumes[0];
  let detached: RemovedResource['detached'];
  if (volume && volume.State !== 'available') {
    for (const attachment of volume.Attachments ?? []) {
      if (attachment.State === 'detaching' || attachment.State === 'detached') continue;
      await ec2.send(new DetachVolumeCommand({ VolumeId, InstanceId: attachment.InstanceId }));
      detached = 'normal';
    }
    if (!(await waitUntilDetached(ec2, VolumeId, detachTimeoutMs))) {
      // Force is a last resort (the instance gets no chance to flush), fine for a temporary volume.
      // https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DetachVolume.html
      await ec2.send(new DetachVolumeCommand({ VolumeId, Force: true }));
      detached = 'forced';
      if (!(await waitUntilDetached(ec2, VolumeId, detachTimeoutMs))) {
        throw new Error(`volume ${VolumeId} is still not available after a forced detach; try again later`);
      }
    }
  }
  await ec2.send(new DeleteVolumeCommand({ VolumeId }));
  return { ...planned, unsharedFrom: [], ...(detached ? { detached } : {}) };
}

function accountIdOfRole(roleArn: string): string | undefined {
  return /^arn:[\w-]+:iam::(\d{12}):role\//.exec(roleArn)?.[1];
}

interface RestoreRequestTarget {
  target?: { roleArn?: string; externalId?: string; region?: string };
}

/**
 * The configured targets plus the roles named by stored restores, one per (role, region), and every
 * region a stored restore or a target names (same-account restores have no role but a region).
 */
async function collectTargets(store: RestoreStore, configured: readonly SweepTarget[], limit: number) {
  const restores = await store.list<RestoreRequestTarget>({ limit });
  const regions = new Set(configured.map((t) => t.region));
  for (const { request } of restores) if (request?.target?.region) regions.add(request.target.region);
  const fromRecords: SweepTarget[] = restores.flatMap(({ request }) => {
    const target = request?.target;
    if (!target?.roleArn || !target.region) return [];
    return [
      {
        roleArn: target.roleArn,
        region: target.region,
        ...(target.externalId ? { externalId: target.externalId } : {}),
      },
    ];
  });
  const byKey = new Map<string, SweepTarget>();
  for (const target of [...configured, ...fromRecords]) {
    const key = `${target.roleArn}|${target.region}`;
    if (!byKey.has(key)) byKey.set(key, target);
  }
  return { targets: [...byKey.values()], regions };
}

interface Location {
  accountId: string;
  region: string;
  roleArn?: string;
  clients: AwsClients;
}

/** Finds the leftovers of restores in every account and region, and removes them (unless `dryRun`). */
export async function sweepLeftovers(options: SweepOptions): Promise<SweepReport> {
  const now = options.now ?? (() => new Date());
  const startedAt = now();
  const report: SweepReport = {
    dryRun: options.dryRun,
    startedAt: startedAt.toISOString(),
    finishedAt: '',
    minAgeMinutes: options.minAgeMinutes,
    scanned: [],
    found: [],
    planned: [],
    removed: [],
    skipped: [],
    failed: [],
    locationErrors: [],
  };
  const { targets, regions } = await collectTargets(
    options.store,
    options.targets,
    options.restoresToScan ?? 1000,
  );
  const endpoint = options.source.endpoint;
  const sourceClients = (region: string) =>
    createAwsClients({
      region,
      ...(options.source.credentials ? { credentials: options.source.credentials } : {}),
      ...(endpoint ? { endpoint } : {}),
    });

  const locations: Location[] = [];
  const opened: AwsClients[] = [];
  try {
    const home = sourceClients(options.source.region);
    opened.push(home);
    const identity = await home.sts.send(new GetCallerIdentityCommand({}));
    const sourceAccountId = identity.Account ?? '';
    locations.push({ accountId: sourceAccountId, region: options.source.region, clients: home });
    for (const region of regions) {
      if (region === options.source.region) continue;
      const clients = sourceClients(region);
      opened.push(clients);
      locations.push({ accountId: sourceAccountId, region, clients });
    }
    const seen = new Set(locations.map((l) => `${l.accountId}|${l.region}`));
    for (const target of targets) {
      const accountId = accountIdOfRole(target.roleArn);
      if (!accountId) {
        report.locationErrors.push({
          roleArn: target.roleArn,
          region: target.region,
          error: 'not an IAM role ARN (arn:aws:iam::<12-digit account>:role/<name>)',
        });
        continue;
      }
      // Each (account, region) is searched once, whichever role leads there.
      if (seen.has(`${accountId}|${target.region}`)) continue;
      seen.add(`${accountId}|${target.region}`);
      const clients = createAwsClients({
        region: target.region,
        credentials: assumeRoleCredentials({
          roleArn: target.roleArn,
          region: target.region,
          sessionName: 'ec2-restore-sweep',
          ...(target.externalId ? { externalId: target.externalId } : {}),
          ...(options.source.credentials ? { sourceCredentials: options.source.credentials } : {}),
          ...(endpoint ? { endpoint } : {}),
        }),
        ...(endpoint ? { endpoint } : {}),
      });
      opened.push(clients);
      locations.push({ accountId, region: target.region, roleArn: target.roleArn, clients });
    }

    const byResource = new Map<TaggedResource, Location>();
    for (const location of locations) {
      try {
        const resources = await findTaggedResources(
          location.clients.ec2,
          location.accountId,
          location.region,
        );
        report.scanned.push({
          accountId: location.accountId,
          region: location.region,
          ...(location.roleArn ? { roleArn: location.roleArn } : {}),
          volumes: resources.filter((r) => r.kind === 'volume').length,
          snapshots: resources.filter((r) => r.kind === 'snapshot').length,
        });
        for (const resource of resources) byResource.set(resource, location);
        report.found.push(...resources);
      } catch (error) {
        report.locationErrors.push({
          ...(location.roleArn ? { roleArn: location.roleArn } : {}),
          region: location.region,
          error: errorText(error),
        });
      }
    }

    const statuses = new Map<string, RestoreStatus | null>();
    for (const resource of report.found) {
      const restoreId = resource.tags[RestoreTag.RestoreId];
      if (restoreId && !statuses.has(restoreId))
        statuses.set(restoreId, await options.store.getStatus(restoreId));
    }
    const plan = findLeftovers({
      resources: report.found,
      statuses,
      now: now(),
      minAgeMinutes: options.minAgeMinutes,
    });
    report.planned = plan.remove;
    report.skipped = plan.skip;

    if (!options.dryRun) {
      for (const planned of plan.remove) {
        const ec2 = byResource.get(planned.resource)?.clients.ec2;
        if (!ec2) continue;
        try {
          report.removed.push(
            planned.resource.kind === 'snapshot'
              ? await removeSnapshot(ec2, planned)
              : await removeVolume(ec2, planned, options.detachTimeoutMs ?? DEFAULT_DETACH_TIMEOUT_MS),
          );
        } catch (error) {
          if (isNotFound(error)) {
            // Removed meanwhile (by the cleanup step or another sweep): the goal is reached.
            report.removed.push({ ...planned, unsharedFrom: [] });
          } else {
            report.failed.push({ ...planned, error: errorText(error) });
          }
        }
      }
    }
  } finally {
    for (const clients of opened) clients.destroy();
  }
  report.finishedAt = now().toISOString();
  return report;
}
