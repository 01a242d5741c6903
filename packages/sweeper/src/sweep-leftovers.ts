/**
 * The sweep: finds what restores left behind in the source account and in every target account,
 * and removes the temporary resources of restores that are finished or unknown (see
 * {@link findLeftovers} for the rules). The safety net behind the pipeline's cleanup step, for what a
 * crash or a bug left behind. Finding and removing are the AWS resource module's
 * (`@ec2-restore/aws-resources`), the same code as the cleanup step's.
 */
import type { Tag, Volume } from '@aws-sdk/client-ec2';
import { type AwsClients, classifyAwsError } from '@ec2-restore/aws-clients';
import {
  anyRestoreFilter,
  describeVolumeRemoval,
  findStepSnapshots,
  findTaggedImages,
  findTaggedVolumes,
  removeImage,
  removeSnapshot,
  removeVolumes,
} from '@ec2-restore/aws-resources';
import { RestoreTag } from '@ec2-restore/contracts';
import type { RestoreStatus } from '@ec2-restore/restore-state';
import {
  findLeftovers,
  type PlannedRemoval,
  type ResourceKind,
  type TaggedResource,
} from './find-leftovers.ts';
import { openLocations, type SweepLocation } from './sweep-locations.ts';
import type { SweepOptions, SweepReport } from './sweep-report.ts';

export * from './sweep-report.ts';

const DEFAULT_DETACH_TIMEOUT_MS = 30_000;

function tagsOf(tags: Tag[] | undefined): Record<string, string> {
  return Object.fromEntries((tags ?? []).flatMap((t) => (t.Key ? [[t.Key, t.Value ?? '']] : [])));
}

function errorText(error: unknown): string {
  const classified = classifyAwsError(error);
  return `${classified.code}: ${classified.message}`;
}

/** What one location holds: the tagged resources, and the volumes as described (for their attachments). */
interface Found {
  resources: TaggedResource[];
  volumes: Map<string, Volume>;
}

/** Every volume, snapshot and image (owned by the account) that carries the restore-id tag. */
async function findTaggedResources(location: SweepLocation): Promise<Found> {
  const { accountId, region } = location;
  const ec2 = location.clients.ec2;
  const found: Found = { resources: [], volumes: new Map() };
  const add = (kind: ResourceKind, id: string, tags: Tag[] | undefined, createdAt?: Date, state?: string) =>
    found.resources.push({ kind, id, accountId, region, tags: tagsOf(tags), createdAt, state });
  for (const v of await findTaggedVolumes(ec2, anyRestoreFilter)) {
    found.volumes.set(v.VolumeId ?? '', v);
    add('volume', v.VolumeId ?? '', v.Tags, v.CreateTime, v.State);
  }
  for (const s of await findStepSnapshots(ec2, anyRestoreFilter))
    add('snapshot', s.SnapshotId ?? '', s.Tags, s.StartTime, s.State);
  for (const i of await findTaggedImages(ec2, anyRestoreFilter)) {
    const created = i.CreationDate ? new Date(i.CreationDate) : undefined;
    add('image', i.ImageId ?? '', i.Tags, created, i.State);
  }
  return found;
}

/** Removes the planned resources of one location, recording each outcome in the report. */
async function removeIn(
  location: SweepLocation,
  planned: PlannedRemoval[],
  volumes: ReadonlyMap<string, Volume>,
  detachTimeoutMs: number,
  report: SweepReport,
): Promise<void> {
  const ec2 = location.clients.ec2;
  // Images first: a snapshot an image still names cannot be deleted (its root snapshot copy).
  for (const removal of planned.filter((p) => p.resource.kind === 'image')) {
    try {
      await removeImage(ec2, removal.resource.id);
      report.removed.push({ ...removal, unsharedFrom: [] });
    } catch (error) {
      report.failed.push({ ...removal, error: errorText(error) });
    }
  }
  for (const removal of planned.filter((p) => p.resource.kind === 'snapshot')) {
    try {
      const { unsharedFrom } = await removeSnapshot(ec2, removal.resource.id);
      report.removed.push({ ...removal, unsharedFrom });
    } catch (error) {
      report.failed.push({ ...removal, error: errorText(error) });
    }
  }
  const plannedVolumes = planned.filter((p) => p.resource.kind === 'volume');
  const described = plannedVolumes.map((p) => volumes.get(p.resource.id) ?? { VolumeId: p.resource.id });
  let outcomes: Awaited<ReturnType<typeof removeVolumes>>;
  try {
    outcomes = await removeVolumes(ec2, described, { waitMs: detachTimeoutMs });
  } catch (error) {
    for (const removal of plannedVolumes) report.failed.push({ ...removal, error: errorText(error) });
    return;
  }
  plannedVolumes.forEach((removal, i) => {
    const outcome = outcomes[i];
    if (outcome?.outcome === 'deleted') {
      report.removed.push({
        ...removal,
        unsharedFrom: [],
        ...(outcome.detached ? { detached: 'normal' } : {}),
      });
    } else if (outcome?.outcome === 'gone') {
      // Removed meanwhile (by the cleanup step or another sweep): the goal is reached.
      report.removed.push({ ...removal, unsharedFrom: [] });
    } else if (outcome?.outcome === 'detaching') {
      report.detaching.push({ ...removal, detail: describeVolumeRemoval(outcome) });
    } else if (outcome) {
      report.failed.push({ ...removal, error: describeVolumeRemoval(outcome) });
    }
  });
}

/** Finds the leftovers of restores in every account and region, and removes them (unless `dryRun`). */
export async function sweepLeftovers(options: SweepOptions): Promise<SweepReport> {
  const now = options.now ?? (() => new Date());
  const report: SweepReport = {
    dryRun: options.dryRun,
    startedAt: now().toISOString(),
    finishedAt: '',
    minAgeMinutes: options.minAgeMinutes,
    scanned: [],
    found: [],
    planned: [],
    removed: [],
    skipped: [],
    detaching: [],
    failed: [],
    locationErrors: [],
  };
  const opened: AwsClients[] = [];
  try {
    const { locations, errors } = await openLocations({
      store: options.store,
      source: options.source,
      targets: options.targets,
      restoresToScan: options.restoresToScan ?? 1000,
      opened,
    });
    report.locationErrors.push(...errors);

    const foundIn = new Map<SweepLocation, Found>();
    for (const location of locations) {
      try {
        const found = await findTaggedResources(location);
        report.scanned.push({
          accountId: location.accountId,
          region: location.region,
          ...(location.roleArn ? { roleArn: location.roleArn } : {}),
          volumes: found.volumes.size,
          snapshots: found.resources.filter((r) => r.kind === 'snapshot').length,
          images: found.resources.filter((r) => r.kind === 'image').length,
        });
        foundIn.set(location, found);
        report.found.push(...found.resources);
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
      for (const [location, found] of foundIn) {
        const here = new Set(found.resources);
        const planned = plan.remove.filter((p) => here.has(p.resource));
        if (planned.length === 0) continue;
        const detachTimeoutMs = options.detachTimeoutMs ?? DEFAULT_DETACH_TIMEOUT_MS;
        await removeIn(location, planned, found.volumes, detachTimeoutMs, report);
      }
    }
  } finally {
    for (const clients of opened) clients.destroy();
  }
  report.finishedAt = now().toISOString();
  return report;
}
