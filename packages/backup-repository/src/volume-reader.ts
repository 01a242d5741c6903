import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { BLOCK_SIZE } from './block.ts';
import { BlockListFormatError, type BlockRef, forEachBlockListed, readBlockList } from './block-list.ts';
import { BlockIntegrityError, BlockListCorruptError } from './errors.ts';
import type { VolumeManifest } from './manifest.ts';
import { blockKey } from './repository-layout.ts';
import type { ObjectStore } from './stores/object-store.ts';

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
    const stream = await this.openBlockList();
    try {
      yield* readBlockList(stream, this.volume.blockCount, this.volume.blockList.sha256);
    } catch (err) {
      throw this.corruptListError(err);
    }
  }

  /** Reads the whole block list once (streamed) and checks it; calls `onBlock` for each block. */
  async checkBlockList(onBlock: (ref: BlockRef) => void = () => {}): Promise<void> {
    const stream = await this.openBlockList();
    try {
      await forEachBlockListed(stream, this.volume.blockCount, this.volume.blockList.sha256, onBlock);
    } catch (err) {
      throw this.corruptListError(err);
    }
  }

  private async openBlockList(): Promise<Readable> {
    const stream = await this.store.getStream(this.volume.blockList.key);
    if (stream === undefined) {
      throw new BlockListCorruptError(
        this.restorePointId,
        this.volume.deviceName,
        'the block list is missing',
      );
    }
    return stream;
  }

  private corruptListError(err: unknown): unknown {
    if (!(err instanceof BlockListFormatError)) return err;
    return new BlockListCorruptError(this.restorePointId, this.volume.deviceName, err.message);
  }

  /**
   * Gets the store ready for reading blocks into shared memory (a folder repository starts its reader
   * thread): call it while something else is in flight, so the first block does not wait for the set-up.
   */
  prepareReads(): void {
    this.store.prepareReads?.();
  }

  /**
   * Reads a non-zero block into `into` (at least BLOCK_SIZE bytes) and verifies its SHA-256 against the
   * block list. Returns the block's bytes (a view of `into`). Throws BlockIntegrityError naming the restore
   * point, volume, block index and expected hash when the block is missing or corrupt.
   */
  async readBlock(ref: BlockRef & { sha256: string }, into: Buffer): Promise<Buffer> {
    const data = await this.readBlockUnhashed(ref, into);
    const actual = createHash('sha256').update(data).digest('hex');
    if (actual !== ref.sha256) {
      throw new BlockIntegrityError({ ...this.locate(ref), actualSha256: actual });
    }
    return data;
  }

  /**
   * Reads a non-zero block into `into` (at least BLOCK_SIZE bytes; with one byte more a folder repository
   * reads a block in one call) and checks its length, not its SHA-256:
   * for a destination that checks the block list's SHA-256 itself (EBS PutSnapshotBlock's x-amz-Checksum),
   * so the bytes are not hashed twice. When the destination rejects the block, `readBlock` tells a corrupt
   * restore point from anything else. Throws BlockIntegrityError when the block is missing or not
   * BLOCK_SIZE bytes.
   */
  async readBlockUnhashed(ref: BlockRef & { sha256: string }, into: Buffer): Promise<Buffer> {
    const length = await this.store.readInto(blockKey(ref.sha256), into, BLOCK_SIZE);
    if (length === undefined) throw new BlockIntegrityError({ ...this.locate(ref), missing: true });
    const data = into.subarray(0, Math.min(length, BLOCK_SIZE));
    if (length !== BLOCK_SIZE) {
      const actual = createHash('sha256').update(data).digest('hex');
      throw new BlockIntegrityError({
        ...this.locate(ref),
        actualSha256: `${actual} (${length} bytes, not ${BLOCK_SIZE})`,
      });
    }
    return data;
  }

  private locate(ref: BlockRef & { sha256: string }) {
    return {
      restorePointId: this.restorePointId,
      deviceName: this.volume.deviceName,
      blockIndex: ref.index,
      expectedSha256: ref.sha256,
    };
  }
}
