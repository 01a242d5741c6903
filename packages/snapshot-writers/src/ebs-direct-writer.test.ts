import { createHash } from 'node:crypto';
import { BLOCK_SIZE, ZERO_BLOCK } from '@ec2-restore/backup-repository';
import { describe, expect, it } from 'vitest';
import { ebsNvmeDevicePath, resolveDevicePath } from './device-path.ts';
import { LinearChecksum } from './linear-checksum.ts';

describe('LinearChecksum', () => {
  it('is SHA-256 over the raw per-block digests in block order, base64', () => {
    const a = Buffer.alloc(BLOCK_SIZE, 1);
    const digestA = createHash('sha256').update(a).digest();
    const digestZero = createHash('sha256').update(ZERO_BLOCK).digest();
    const checksum = new LinearChecksum();
    checksum.add(digestA.toString('hex'));
    checksum.add(null);
    const expected = createHash('sha256')
      .update(Buffer.concat([digestA, digestZero]))
      .digest('base64');
    expect(checksum.digestBase64()).toBe(expected);
  });
});

describe('device paths', () => {
  it('maps a volume id to its NVMe by-id link, or to a file in the device folder', () => {
    expect(ebsNvmeDevicePath('vol-0123456789abcdef0')).toBe(
      '/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_vol0123456789abcdef0',
    );
    expect(resolveDevicePath('vol-0abc', '/tmp/devices')).toBe('/tmp/devices/vol-0abc');
    expect(() => resolveDevicePath('../etc/passwd', '/tmp/devices')).toThrow(/not an EBS volume id/);
  });
});
