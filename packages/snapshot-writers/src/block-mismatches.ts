/** One block whose read-back data differs from the restore point. */
export interface BlockMismatch {
  blockIndex: number;
  /** SHA-256 (hex) of the block in the restore point (zero blocks: the SHA-256 of 512 KiB of zeros). */
  expectedSha256: string;
  /** SHA-256 (hex) of the block as read back; null when the snapshot or device has no such block. */
  actualSha256: string | null;
}

/**
 * Collects mismatches found by concurrent readers (they finish in any order) and reports the ones with
 * the lowest block indexes, in ascending order, plus how many there were in all. Memory is bounded by
 * `limit` however many blocks differ.
 */
export class BlockMismatches {
  private readonly kept: BlockMismatch[] = [];
  private total = 0;

  /** @param limit how many mismatches to keep. @defaultValue 100 */
  constructor(private readonly limit = 100) {
    if (!Number.isInteger(limit) || limit < 1) {
      throw new RangeError(`limit must be a positive integer, got ${limit}`);
    }
  }

  add(mismatch: BlockMismatch): void {
    this.total += 1;
    const kept = this.kept;
    if (kept.length === this.limit && mismatch.blockIndex >= kept[kept.length - 1]!.blockIndex) return;
    // Binary search for the insertion point; readers finish almost in order, so this is usually the end.
    let low = 0;
    let high = kept.length;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if (kept[mid]!.blockIndex < mismatch.blockIndex) low = mid + 1;
      else high = mid;
    }
    kept.splice(low, 0, mismatch);
    if (kept.length > this.limit) kept.pop();
  }

  /** How many mismatches were added in all (kept or not). */
  get count(): number {
    return this.total;
  }

  /** The kept mismatches, ascending by block index. */
  list(): BlockMismatch[] {
    return [...this.kept];
  }
}
