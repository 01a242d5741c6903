import { ManifestInvalidError, RestorePointNotFoundError } from './errors.ts';
import {
  parseManifest,
  type RestorePointManifest,
  type RestorePointSummary,
  restorePointIdSchema,
  summarizeManifest,
} from './manifest.ts';
import { manifestKey, RESTORE_POINTS } from './repository-layout.ts';
import { RestorePointBuilder, type RestorePointDraft } from './restore-point-builder.ts';
import { runPool } from './run-pool.ts';
import type { ObjectStore } from './stores/object-store.ts';
import { VolumeReader } from './volume-reader.ts';

/** The image-level backup repository: restore points (manifests) over a content-addressed block store. */
export class BackupRepository {
  /**
   * How long the catalogue (listRestorePoints) is served before the store is listed again; 0 lists
   * every time. Restore points created through this object appear at once. @defaultValue 5000
   */
  catalogueMaxAgeMs = 5_000;
  /** Summaries by id; null for a manifest that does not parse (it is immutable: not read again). */
  private readonly catalogue = new Map<string, RestorePointSummary | null>();
  private sortedCatalogue: RestorePointSummary[] = [];
  private listedAt = Number.NEGATIVE_INFINITY;
  /** Counts the restore points created through this object: a listing older than one is stale. */
  private created = 0;
  private refreshing: Promise<void> | undefined;

  constructor(readonly store: ObjectStore) {}

  get location(): string {
    return this.store.location;
  }

  /**
   * Every complete restore point (those whose manifest was written), newest first. Served from an
   * index held in memory: the store is listed at most once per `catalogueMaxAgeMs` (one directory
   * read or ListObjectsV2), and only manifests not seen before are read (a manifest never changes
   * once written); ids gone from the listing leave the index. The same array (and summaries) is
   * returned until the catalogue changes, so a caller may keep what it derived from it: do not change it.
   */
  async listRestorePoints(): Promise<readonly RestorePointSummary[]> {
    if (!this.catalogueFresh()) await this.refreshCatalogue();
    return this.sortedCatalogue;
  }

  private catalogueFresh(): boolean {
    return performance.now() - this.listedAt < this.catalogueMaxAgeMs;
  }

  private refreshCatalogue(): Promise<void> {
    // Requests at the same time share one refresh.
    this.refreshing ??= (async () => {
      try {
        const startedAt = performance.now();
        const createdBefore = this.created;
        const ids = await this.store.listChildren(RESTORE_POINTS);
        const listed = new Set(ids);
        let changed = false;
        for (const id of this.catalogue.keys()) {
          if (!listed.has(id)) {
            this.catalogue.delete(id);
            changed = true;
          }
        }
        const unseen = ids.filter((id) => !this.catalogue.has(id));
        await runPool(unseen, 16, async (id) => {
          const raw = await this.store.getBytes(manifestKey(id));
          if (raw === undefined) return; // being written, or abandoned mid-write: not a restore point (yet)
          let parsed: ReturnType<typeof parseManifest>;
          try {
            parsed = parseManifest(JSON.parse(raw.toString('utf8')));
          } catch {
            parsed = { ok: false, error: 'not JSON' } as ReturnType<typeof parseManifest>;
          }
          this.catalogue.set(id, parsed.ok ? summarizeManifest(parsed.manifest) : null);
          changed = true;
        });
        if (changed) {
          this.sortedCatalogue = [...this.catalogue.values()]
            .filter((summary): summary is RestorePointSummary => summary !== null)
            .sort((a, b) => b.createdAt.localeCompare(a.createdAt));
        }
        // A restore point created here while the store was being listed may be missing from the
        // listing: the catalogue then stays stale, and the next call lists again.
        if (this.created === createdBefore) this.listedAt = startedAt;
      } finally {
        this.refreshing = undefined;
      }
    })();
    return this.refreshing;
  }

  async getManifest(restorePointId: string): Promise<RestorePointManifest> {
    if (!restorePointIdSchema.safeParse(restorePointId).success) {
      throw new RestorePointNotFoundError(restorePointId, this.location);
    }
    const raw = await this.store.getBytes(manifestKey(restorePointId));
    if (raw === undefined) throw new RestorePointNotFoundError(restorePointId, this.location);
    let json: unknown;
    try {
      json = JSON.parse(raw.toString('utf8'));
    } catch (err) {
      throw new ManifestInvalidError(restorePointId, `not JSON (${(err as Error).message})`);
    }
    const parsed = parseManifest(json);
    if (!parsed.ok) throw new ManifestInvalidError(restorePointId, parsed.error);
    if (parsed.manifest.id !== restorePointId) {
      throw new ManifestInvalidError(restorePointId, `its id is '${parsed.manifest.id}'`);
    }
    return parsed.manifest;
  }

  /**
   * The summary of one restore point. Once the catalogue has been built (a first listRestorePoints),
   * it is served from there, refreshed as the catalogue is (a manifest never changes, and one
   * removed leaves it at the next listing); otherwise, or when the catalogue does not have it, its
   * manifest is read (building the whole catalogue for one summary would read every manifest).
   */
  async getSummary(restorePointId: string): Promise<RestorePointSummary> {
    if (this.listedAt !== Number.NEGATIVE_INFINITY) {
      // A listing that fails leaves the catalogue stale: the manifest is read below, as without it.
      if (!this.catalogueFresh()) await this.refreshCatalogue().catch(() => undefined);
      const known = this.catalogueFresh() ? this.catalogue.get(restorePointId) : undefined;
      // A manifest whose id is not its folder's is not served under that folder's id.
      if (known?.id === restorePointId) return known;
    }
    return summarizeManifest(await this.getManifest(restorePointId));
  }

  async openVolume(restorePointId: string, deviceName: string): Promise<VolumeReader> {
    const manifest = await this.getManifest(restorePointId);
    const volume = manifest.volumes.find((v) => v.deviceName === deviceName);
    if (volume === undefined) {
      const known = manifest.volumes.map((v) => v.deviceName).join(', ');
      throw new ManifestInvalidError(
        restorePointId,
        `it has no volume ${deviceName} (its volumes: ${known}); choose one of those device names`,
      );
    }
    return new VolumeReader(this.store, restorePointId, volume);
  }

  createRestorePoint(draft: RestorePointDraft): RestorePointBuilder {
    // A restore point created here is listed at the next call, without waiting for catalogueMaxAgeMs.
    return new RestorePointBuilder(this.store, draft, () => {
      this.created += 1;
      // Stale rather than never built: getSummary keeps using the catalogue.
      if (this.listedAt !== Number.NEGATIVE_INFINITY)
        this.listedAt = performance.now() - this.catalogueMaxAgeMs;
    });
  }
}
