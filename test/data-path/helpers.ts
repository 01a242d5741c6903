import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateKeyCommand } from '@aws-sdk/client-kms';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { type AwsClients, createAwsClients } from '@ec2-restore/aws-clients';
import { BLOCK_SIZE, type InstanceMetadataInput } from '@ec2-restore/backup-repository';
import { credentialsForAccount, randomAccountId } from '@ec2-restore/local-aws';

export const REGION = 'eu-west-1';

/** Clients acting as the root user of a fresh emulator account (no state shared with other tests). */
export function freshAccount(): { accountId: string; aws: AwsClients } {
  const accountId = randomAccountId();
  return {
    accountId,
    aws: createAwsClients({ region: REGION, credentials: credentialsForAccount(accountId) }),
  };
}

export async function customerManagedKeyArn(aws: AwsClients): Promise<string> {
  const out = await aws.kms.send(new CreateKeyCommand({ Description: 'data path test key' }));
  return out.KeyMetadata!.Arn!;
}

export async function newBucket(aws: AwsClients): Promise<string> {
  const bucket = `ec2r-test-${randomBytes(6).toString('hex')}`;
  await aws.s3.send(
    new CreateBucketCommand({ Bucket: bucket, CreateBucketConfiguration: { LocationConstraint: REGION } }),
  );
  return bucket;
}

export async function tempDir(): Promise<{ path: string; remove: () => Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), 'data-path-test-'));
  return { path, remove: () => rm(path, { recursive: true, force: true }) };
}

/**
 * A sparse raw disk image: `sizeBytes` long, holes everywhere except the given blocks, each filled with
 * random bytes (or the given bytes). Returns the path.
 */
export async function sparseImage(
  path: string,
  sizeBytes: number,
  dataBlocks: { index: number; data?: Buffer }[],
): Promise<string> {
  const handle = await open(path, 'w');
  try {
    await handle.truncate(sizeBytes);
    for (const block of dataBlocks) {
      const data = block.data ?? randomBytes(BLOCK_SIZE);
      await handle.write(data, 0, data.length, block.index * BLOCK_SIZE);
    }
  } finally {
    await handle.close();
  }
  return path;
}

/** SHA-256 of a file's first `length` bytes, zero-padded to `length` when the file is shorter. */
export async function sha256OfFile(path: string, length: number): Promise<string> {
  const hash = createHash('sha256');
  const handle = await open(path, 'r');
  const buffer = Buffer.alloc(8 * BLOCK_SIZE);
  try {
    for (let offset = 0; offset < length; offset += buffer.length) {
      const want = Math.min(buffer.length, length - offset);
      buffer.fill(0, 0, want);
      await handle.read(buffer, 0, want, offset);
      hash.update(buffer.subarray(0, want));
    }
  } finally {
    await handle.close();
  }
  return hash.digest('hex');
}

/** The bytes of one block of a file (zeros past its end). */
export async function blockOfFile(path: string, index: number): Promise<Buffer> {
  const handle = await open(path, 'r');
  try {
    const buffer = Buffer.alloc(BLOCK_SIZE);
    await handle.read(buffer, 0, BLOCK_SIZE, index * BLOCK_SIZE);
    return buffer;
  } finally {
    await handle.close();
  }
}

export const INSTANCE: InstanceMetadataInput = {
  instanceType: 't3.micro',
  platform: 'linux',
  architecture: 'x86_64',
  rootDeviceName: '/dev/xvda',
  network: { subnetId: 'subnet-12345678', securityGroupIds: ['sg-12345678'] },
  tags: { Name: 'web-1' },
};
