import { webcrypto } from 'node:crypto';
import { BLOCK_SIZE, BLOCKS_PER_GIB, isZeroBlock } from './block.ts';
import { BlockListWriter } from './block-list.ts';
import { ManifestInvalidError } from './errors.ts';
import {
  describeIssues,
  type InstanceMetadataInput,
  instanceMetadataSchema,
  MANIFEST_FORMAT_VERSION,
  manifestSchema,
  type RestorePointManifest,
  type RestorePointSource,
  restorePointIdSchema,
  type VolumeManifest,
  type VolumeType,
} from './manifest.ts';
import { blockKey, blockListKey, manifestKey, newRestorePointId } from './repository-layout.ts';
import type { ObjectStore } from './stores/object-store.ts';

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
