import { createHash } from 'node:crypto';
import { ZERO_BLOCK_SHA256_HEX } from '@ec2-restore/backup-repository';

export const ZERO_BLOCK_SHA256 = Buffer.from(ZERO_BLOCK_SHA256_HEX, 'hex');

/**
 * The LINEAR aggregated checksum of CompleteSnapshot: SHA-256 over the blocks' SHA-256 digests concatenated
 * in ascending block index order, base64.
 * https://docs.aws.amazon.com/ebs/latest/APIReference/API_CompleteSnapshot.html
 */
export class LinearChecksum {
  private readonly hash = createHash('sha256');
  add(blockSha256Hex: string | null): void {
    this.hash.update(blockSha256Hex === null ? ZERO_BLOCK_SHA256 : Buffer.from(blockSha256Hex, 'hex'));
  }
  digestBase64(): string {
    return this.hash.digest('base64');
  }
}
