import { createHash, randomBytes, webcrypto } from 'node:crypto';
import { BLOCK_SIZE, BLOCKS_PER_GIB, isZeroBlock } from './block.ts';
import { BlockListFormatError, BlockListWriter, type BlockRef, readBlockList } from './block-list.ts';
import {
  BlockIntegrityError,
  BlockListCorruptError,
  ManifestInvalidError,
  RestorePointNotFoundError,
} from './errors.ts';
import {
  describeIssues,
  type InstanceMetadataInput,
  instanceMetadataSchema,
  MANIFEST_FORMAT_VERSION,
  manifestSchema,
  parseManifest,
  type RestorePointManifest,
  type RestorePointSource,
  type RestorePointSummary,
  restorePointIdSchema,
  summarizeManifest,
  type VolumeManifest,
  type VolumeType,
} from './manifest.ts';
import { runPool } from './run-pool.ts';
import type { ObjectStore } from './stores/object-store.ts';

/*
 * Layout of a repository (folder or S3 prefix):
 *   blocks/<sha256[0..2]>/<sha256>              block data, content-addressed, shared by all restore points
 *   restore-points/<id>/<device>.blocks          block list of one volume (one line per block)
 *   restore-points/<id>/manifest.json            written last: a restore point exists once this exists
 */
const RESTORE_POINTS = 'restore-points/';

export function blockKey(sha256: string): string {
  return `blocks/${sha256.slice(0, 2)}/${sha256}`;
}

function manifestKey(id: string): string {
  return `${RESTORE_POINTS}${id}/manifest.json`;
}

function blockListKey(id: string, deviceName: string): string {
  return `${RESTORE_POINTS}${id}/${deviceName.replace(/^\/dev\//, '')}.blocks`;
}

/** A new restore point id: sortable by time, unique, safe in job ids and S3 keys. */
export function newRestorePointId(now: Date = new Date()): string {
  const stamp = now
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
  return `rp-${stamp}-${randomBytes(4).toString('hex')}`;
}

export interface VolumeSpec {
  deviceName: string;
  sizeGiB: number;
  volumeType: VolumeType;
  iops?: number;
  throughput?: number;
  deleteOnTermination?: boolean;
}

/** A block handed to RestorePointBuilder.addVolume: its data, or null for a block known to be zero. */
export interface SourceBlock {
  index: number;
  data: Buffer | null;
}

export interface RestorePointDraft {
  id?: string;
  description?: string;
  source: RestorePointSource;
  instance: InstanceMetadataInput;
}

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
  private refreshing: Promise<void> | undefined;

  constructor(readonly store: ObjectStore) {}

  get location(): string {
    return this.store.location;
  }

  /**
   * Every complete restore point (those whose manifest was written), newest first. Served from an
   * index held in memory: the store is listed at most once per `catalogueMaxAgeMs` (one directory
   * read or ListObjectsV2), and only manifests not seen before are read (a manifest never changes
   * once written); ids gone from the listing leave the index.
   */
  async listRestorePoints(): Promise<RestorePointSummary[]> {
    if (performance.now() - this.listedAt >= this.catalogueMaxAgeMs) await this.refreshCatalogue();
    return [...this.sortedCatalogue];
  }

  private refreshCatalogue(): Promise<void> {
    // Requests at the same time share one refresh.
    this.refreshing ??= (async () => {
      try {
        const startedAt = performance.now();
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
        this.listedAt = startedAt;
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

  async getSummary(restorePointId: string): Promise<RestorePointSummary> {
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
      this.listedAt = Number.NEGATIVE_INFINITY;
    });
  }
}

/** Reads one volume of a restore point block by block, verifying every block. */
export class VolumeReader {
  constructor(
    private readonly store: ObjectStore,
    readonly restorePointId: string,
    readonly volume: VolumeManifest,
  ) {}

  get sizeBytes(): number {
    return this.volume.blockCount * BLOCK_SIZE;
  }

  /**
   * The volume's blocks in index order, streamed from the block list. The list's own checksum is checked
   * when the iteration ends; call `checkBlockList()` first where acting on a bad list would do harm.
   */
  async *blocks(): AsyncGenerator<BlockRef> {
    const stream = await this.store.getStream(this.volume.blockList.key);
    if (stream === undefined) {
      throw new BlockListCorruptError(
        this.restorePointId,
        this.volume.deviceName,
        'the block list is missing',
      );
    }
    try {
      yield* readBlockList(stream, this.volume.blockCount, this.volume.blockList.sha256);
    } catch (err) {
      if (err instanceof BlockListFormatError) {
        throw new BlockListCorruptError(this.restorePointId, this.volume.deviceName, err.message);
      }
      throw err;
    }
  }

  /** Reads the whole block list once (streamed) and checks it; calls `onBlock` for each block. */
  async checkBlockList(onBlock?: (ref: BlockRef) => void): Promise<void> {
    for await (const ref of this.blocks()) onBlock?.(ref);
  }

  /**
   * Reads a non-zero block into `into` (at least BLOCK_SIZE bytes) and verifies its SHA-256 against the
   * block list. Returns the block's bytes (a view of `into`). Throws BlockIntegrityError naming the restore
   * point, volume, block index and expected hash when the block is missing or corrupt.
   */
  async readBlock(ref: BlockRef & { sha256: string }, into: Buffer): Promise<Buffer> {
    const location = {
      restorePointId: this.restorePointId,
      deviceName: this.volume.deviceName,
      blockIndex: ref.index,
      expectedSha256: ref.sha256,
    };
    const length = await this.store.readInto(blockKey(ref.sha256), into);
    if (length === undefined) throw new BlockIntegrityError({ ...location, missing: true });
    const data = into.subarray(0, Math.min(length, BLOCK_SIZE));
    const actual = createHash('sha256').update(data).digest('hex');
    if (length !== BLOCK_SIZE || actual !== ref.sha256) {
      throw new BlockIntegrityError({
        ...location,
        actualSha256: length === BLOCK_SIZE ? actual : `${actual} (${length} bytes, not ${BLOCK_SIZE})`,
      });
    }
    return data;
  }
}

/**
 * Builds a restore point: blocks first, each volume's block list next, the manifest last, so a crash at
 * any point leaves no manifest that points at missing data (at worst, unreferenced blocks).
 */
export class RestorePointBuilder {
  readonly id: string;
  /**
   * Blocks hashed and written at once while a volume is added; each holds a 512 KiB copy, so memory
   * is writeConcurrency x 512 KiB whatever the volume size. @defaultValue 32
   */
  writeConcurrency = 32;
  /**
   * Blocks written between two flushes of the store (ObjectBatch.commit): one flush per batch instead
   * of one per block. @defaultValue 1024 (512 MiB)
   */
  flushEveryBlocks = 1024;
  private readonly volumes: VolumeManifest[] = [];
  private readonly createdAt = new Date();

  constructor(
    private readonly store: ObjectStore,
    private readonly draft: RestorePointDraft,
    private readonly onCommitted: () => void = () => {},
  ) {
    this.id = draft.id ?? newRestorePointId(this.createdAt);
    const id = restorePointIdSchema.safeParse(this.id);
    if (!id.success) throw new ManifestInvalidError(this.id, `id: ${describeIssues(id.error)}`);
    const instance = instanceMetadataSchema.safeParse(draft.instance);
    if (!instance.success) throw new ManifestInvalidError(this.id, describeIssues(instance.error));
  }

  /**
   * Adds a volume from its blocks, which must come in ascending index order; indices that are skipped are
   * zero blocks (a sparse source yields only its data). The `data` buffer may be reused by the source once
   * the next block is requested. Returns the bytes of non-zero data stored.
   *
   * Blocks are hashed (on the thread pool, several at once), deduplicated and written in parallel
   * while the source is read on; the block list is written in index order as hashes arrive. The store
   * flushes once per `flushEveryBlocks` blocks and at the end, before the block list is written, so
   * a block list never names a block that is not durable.
   */
  async addVolume(
    spec: VolumeSpec,
    source: AsyncIterable<SourceBlock>,
    onProgress?: (blocksDone: number, blockCount: number) => void,
  ): Promise<VolumeManifest> {
    if (this.volumes.some((v) => v.deviceName === spec.deviceName)) {
      throw new ManifestInvalidError(this.id, `volume ${spec.deviceName} was added twice`);
    }
    const blockCount = spec.sizeGiB * BLOCKS_PER_GIB;
    const list = new BlockListWriter();
    const batch = this.store.startBatch();
    const free = Array.from({ length: this.writeConcurrency }, () => Buffer.allocUnsafe(BLOCK_SIZE));
    /** Hashes of the blocks in index order, not yet in the list: null for a zero block. */
    const ordered: Promise<string | null>[] = [];
    /** Keys being written right now: a second copy of a block in flight is not written twice. */
    const writing = new Set<string>();
    const tasks = new Set<Promise<unknown>>();
    let failure: { error: unknown } | undefined;
    let flushing: Promise<void> = Promise.resolve();
    const progressEvery = 256;

    const appendHead = async (): Promise<void> => {
      const head = ordered.shift()!;
      await list.append(await head);
      if (onProgress && list.blockCount % progressEvery === 0) onProgress(list.blockCount, blockCount);
    };
    const flush = (): Promise<void> => {
      flushing = flushing.then(() => batch.commit());
      return flushing;
    };
    const storeBlock = (data: Buffer): Promise<string> => {
      const copy = free.pop()!;
      data.copy(copy);
      const task = (async () => {
        try {
          // crypto.subtle runs the digest on libuv's thread pool: blocks hash in parallel.
          const sha256 = Buffer.from(await webcrypto.subtle.digest('SHA-256', copy)).toString('hex');
          const key = blockKey(sha256);
          // Content addressing: a block already stored (by this or another restore point) is not rewritten.
          if (!writing.has(key) && !batch.has(key)) {
            writing.add(key);
            try {
              if (!(await this.store.exists(key))) await batch.put(key, copy);
            } finally {
              writing.delete(key);
            }
            if (batch.size >= this.flushEveryBlocks) void flush().catch(() => {});
          }
          return sha256;
        } catch (error) {
          failure ??= { error };
          throw error;
        } finally {
          free.push(copy);
        }
      })();
      tasks.add(task);
      void task.then(
        () => tasks.delete(task),
        () => tasks.delete(task),
      );
      return task;
    };

    try {
      for await (const block of source) {
        if (failure) throw failure.error;
        if (block.index < list.blockCount + ordered.length || block.index >= blockCount) {
          throw new RangeError(
            `${spec.deviceName}: block ${block.index} is out of order or beyond the volume's ${blockCount} blocks`,
          );
        }
        while (list.blockCount + ordered.length < block.index) {
          if (ordered.length === 0) await list.append(null);
          else ordered.push(Promise.resolve(null));
        }
        if (block.data === null || isZeroBlock(block.data)) {
          if (ordered.length === 0) await list.append(null);
          else ordered.push(Promise.resolve(null));
        } else {
          if (block.data.length !== BLOCK_SIZE) {
            throw new RangeError(`${spec.deviceName}: block ${block.index} has ${block.data.length} bytes`);
          }
          // A free buffer for the copy: wait for the oldest blocks (in list order) to be done.
          while (free.length === 0) await appendHead();
          const hash = storeBlock(block.data);
          hash.catch(() => {});
          ordered.push(hash);
        }
        if (ordered.length === 0 && onProgress && list.blockCount % progressEvery === 0) {
          onProgress(list.blockCount, blockCount);
        }
      }
      while (ordered.length > 0) await appendHead();
      await Promise.all(tasks);
      if (failure) throw failure.error;
      await flush();
      while (list.blockCount < blockCount) await list.append(null);
      onProgress?.(blockCount, blockCount);
      const written = await list.finish();
      const key = blockListKey(this.id, spec.deviceName);
      try {
        await this.store.putFile(key, written.path);
      } finally {
        await written.cleanup();
      }
      const volume: VolumeManifest = {
        deviceName: spec.deviceName,
        sizeGiB: spec.sizeGiB,
        volumeType: spec.volumeType,
        ...(spec.iops !== undefined ? { iops: spec.iops } : {}),
        ...(spec.throughput !== undefined ? { throughput: spec.throughput } : {}),
        ...(spec.deleteOnTermination !== undefined ? { deleteOnTermination: spec.deleteOnTermination } : {}),
        blockSize: BLOCK_SIZE,
        blockCount,
        zeroBlockCount: list.zeroBlocks,
        blockList: { key, sha256: written.sha256 },
      };
      this.volumes.push(volume);
      return volume;
    } catch (err) {
      await Promise.allSettled([...tasks, flushing]);
      await batch.abort();
      await list.discard();
      throw err;
    }
  }

  /** Writes the manifest: from now on the restore point exists. */
  async commit(): Promise<RestorePointManifest> {
    const candidate = {
      formatVersion: MANIFEST_FORMAT_VERSION,
      id: this.id,
      createdAt: this.createdAt.toISOString(),
      ...(this.draft.description !== undefined ? { description: this.draft.description } : {}),
      source: this.draft.source,
      instance: this.draft.instance,
      volumes: this.volumes,
    };
    const parsed = manifestSchema.safeParse(candidate);
    if (!parsed.success) throw new ManifestInvalidError(this.id, describeIssues(parsed.error));
    if (await this.store.exists(manifestKey(this.id))) {
      throw new ManifestInvalidError(
        this.id,
        'a restore point with this id already exists; choose another id',
      );
    }
    await this.store.put(manifestKey(this.id), Buffer.from(`${JSON.stringify(parsed.data, null, 2)}\n`));
    this.onCommitted();
    return parsed.data;
  }
}
