import type { S3Client } from '@aws-sdk/client-s3';
import { type AwsCredentials, createAwsClients } from '@ec2-restore/aws-clients';
import { RepositoryLocationError } from './errors.ts';
import { BackupRepository } from './repository.ts';
import { FolderObjectStore } from './stores/folder-store.ts';
import { S3ObjectStore } from './stores/s3-store.ts';

export type RepositoryLocation =
  | { kind: 'folder'; path: string }
  | { kind: 's3'; bucket: string; prefix: string };

/** Parses the `BACKUP_REPOSITORY` format: a folder path, or `s3://bucket/optional/prefix`. */
export function parseRepositoryLocation(location: string): RepositoryLocation {
  const value = location.trim();
  if (value === '') {
    throw new RepositoryLocationError(
      'The backup repository location is empty: set BACKUP_REPOSITORY (or --repository) to a folder path or s3://bucket/prefix.',
    );
  }
  if (/^s3:\/\//i.test(value)) {
    const match = /^s3:\/\/([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(?:\/(.*))?$/i.exec(value);
    if (!match) {
      throw new RepositoryLocationError(
        `'${location}' is not a valid S3 location: write it as s3://bucket-name or s3://bucket-name/prefix.`,
      );
    }
    return { kind: 's3', bucket: match[1]!, prefix: (match[2] ?? '').replace(/^\/+|\/+$/g, '') };
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(value)) {
    throw new RepositoryLocationError(
      `'${location}' uses an unsupported scheme: use a folder path or s3://bucket/prefix.`,
    );
  }
  return { kind: 'folder', path: value };
}

export interface OpenRepositoryOptions {
  /** S3 client to use for an s3:// location. @defaultValue one from createAwsClients */
  s3?: S3Client;
  /** @defaultValue process.env.AWS_REGION, else us-east-1 */
  region?: string;
  credentials?: AwsCredentials;
  endpoint?: string;
}

/** Opens the repository at a folder path or `s3://bucket/prefix` (the `BACKUP_REPOSITORY` format). */
export function openBackupRepository(
  location: string,
  options: OpenRepositoryOptions = {},
): BackupRepository {
  const parsed = parseRepositoryLocation(location);
  if (parsed.kind === 'folder') return new BackupRepository(new FolderObjectStore(parsed.path));
  const s3 =
    options.s3 ??
    createAwsClients({
      region: options.region ?? process.env.AWS_REGION ?? 'us-east-1',
      ...(options.credentials ? { credentials: options.credentials } : {}),
      ...(options.endpoint ? { endpoint: options.endpoint } : {}),
    }).s3;
  return new BackupRepository(new S3ObjectStore(s3, parsed.bucket, parsed.prefix));
}
