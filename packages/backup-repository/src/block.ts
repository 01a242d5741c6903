import { createHash } from 'node:crypto';
import { GIB } from '@ec2-restore/contracts';

export { GIB };

/** EBS direct APIs address snapshots in 512 KiB blocks; the repository uses the same unit. */
export const BLOCK_SIZE = 524_288;
export const BLOCKS_PER_GIB = GIB / BLOCK_SIZE;

export const ZERO_BLOCK: Buffer = Buffer.alloc(BLOCK_SIZE);

export function sha256(data: Uint8Array): Buffer {
  return createHash('sha256').update(data).digest();
}

export function sha256Hex(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** SHA-256 of a 512 KiB block of zeros, hex. Zero blocks are not stored: they are marked in the block list. */
export const ZERO_BLOCK_SHA256_HEX: string = sha256Hex(ZERO_BLOCK);

/** memcmp against a block of zeros: far cheaper than hashing, so zero blocks cost almost nothing. */
export function isZeroBlock(block: Buffer): boolean {
  if (block.length === BLOCK_SIZE) return block.equals(ZERO_BLOCK);
  return block.equals(ZERO_BLOCK.subarray(0, block.length));
}

export function hexToBase64(hex: string): string {
  return Buffer.from(hex, 'hex').toString('base64');
}

export function isSha256Hex(value: string): boolean {
  return /^[0-9a-f]{64}$/.test(value);
}
