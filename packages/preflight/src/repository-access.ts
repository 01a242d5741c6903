import type { PolicyStatement, RequestContext } from './policy-types.ts';

/*
 * The backup repository in S3 (`BACKUP_REPOSITORY=s3://bucket/prefix`): every S3 call the product
 * makes on it, the IAM action AWS checks for each, and who makes it. The policy generator grants the
 * worker role the reads (the API and the snapshot worker run as it), the pre-flight checks them, and
 * `repository-access.test.ts` reads the S3 store's source to prove no command is missing here.
 *
 * Actions per API call, from the service authorization reference
 * (https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazons3.html) and each
 * call's "Permissions" section:
 * - GetObject and HeadObject: s3:GetObject on the object
 *   (https://docs.aws.amazon.com/AmazonS3/latest/API/API_HeadObject.html: "you must have the
 *   s3:GetObject permission");
 * - ListObjectsV2: s3:ListBucket on the bucket (https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListObjectsV2.html),
 *   with the request's Prefix and Delimiter as the condition keys s3:prefix and s3:delimiter
 *   (https://docs.aws.amazon.com/AmazonS3/latest/userguide/amazon-s3-policy-keys.html);
 * - PutObject: s3:PutObject; DeleteObject: s3:DeleteObject, on the object.
 */

/** Where an S3 backup repository is: `s3://bucket/prefix` parsed (the prefix without slashes at its ends). */
export interface S3RepositoryLocation {
  bucket: string;
  /** '' when the repository is the whole bucket. */
  prefix: string;
  /**
   * The customer managed KMS key the bucket encrypts new objects with (SSE-KMS), when it has one:
   * reading an object encrypted with it needs kms:Decrypt on it
   * (https://docs.aws.amazon.com/AmazonS3/latest/userguide/UsingKMSEncryption.html#require-sse-kms).
   * Not needed for SSE-S3, the default encryption of every bucket.
   */
  kmsKeyArn?: string;
}

/** Who calls the repository: the API process (catalogue, plan), the snapshot worker (blocks), the backup CLI. */
export type RepositoryCaller = 'api' | 'snapshot-worker' | 'backup-cli';

export interface S3Call {
  /** The S3 API operation, as the SDK command names it without `Command`. */
  operation: string;
  /** The IAM action AWS checks for it. */
  action: string;
  calledBy: RepositoryCaller[];
  /** Why it is called, for messages. */
  purpose: string;
}

/**
 * Every S3 operation of the S3 store. The API and the snapshot worker run as the worker role, so the
 * operations they call are granted to it; the backup CLI runs with the credentials of whoever takes
 * the backups (its permissions are listed in packages/backup-repository/README.md). DeleteObject is
 * part of the store's interface but no process of the product calls it.
 */
export const S3_CALLS: readonly S3Call[] = [
  {
    operation: 'ListObjectsV2',
    action: 's3:ListBucket',
    calledBy: ['api', 'backup-cli'],
    purpose: 'lists the restore points (GET /v1/restore-points)',
  },
  {
    operation: 'GetObject',
    action: 's3:GetObject',
    calledBy: ['api', 'snapshot-worker', 'backup-cli'],
    purpose: 'reads manifests, block lists and blocks',
  },
  {
    operation: 'HeadObject',
    action: 's3:GetObject',
    calledBy: ['backup-cli'],
    purpose: 'skips a block the repository already holds',
  },
  { operation: 'PutObject', action: 's3:PutObject', calledBy: ['backup-cli'], purpose: 'writes a backup' },
  { operation: 'DeleteObject', action: 's3:DeleteObject', calledBy: [], purpose: 'not called' },
];

const READERS: readonly RepositoryCaller[] = ['api', 'snapshot-worker'];

/** The IAM actions the worker role needs on the repository (what the API and the snapshot worker call). */
export function workerRepositoryActions(): string[] {
  const actions = S3_CALLS.filter((c) => c.calledBy.some((who) => READERS.includes(who))).map(
    (c) => c.action,
  );
  return [...new Set(actions)].sort();
}

const bucketArn = (location: S3RepositoryLocation) => `arn:aws:s3:::${location.bucket}`;

/** The object key of `key` inside the repository. */
export function repositoryKey(location: S3RepositoryLocation, key: string): string {
  return location.prefix === '' ? key : `${location.prefix}/${key}`;
}

/** The ARN of the objects of the repository: `arn:aws:s3:::bucket/prefix/*` (the whole bucket for no prefix). */
export function repositoryObjectsArn(location: S3RepositoryLocation): string {
  return `${bucketArn(location)}/${repositoryKey(location, '*')}`;
}

/**
 * The worker role's statements for reading the repository: s3:GetObject on its objects only, and
 * s3:ListBucket on its bucket.
 *
 * s3:ListBucket carries no s3:prefix condition, on purpose: S3 answers a GetObject of a missing key
 * with 404 only when the caller may s3:ListBucket the bucket, and with 403 AccessDenied otherwise
 * (https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html, "Permissions"). That request
 * carries no s3:prefix key, and a condition on a key absent from the request does not match
 * (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition.html), so a
 * prefix-limited s3:ListBucket would turn every "not found" into AccessDenied: an unknown restore
 * point id would answer AccessDenied, and the catalogue would fail while a backup is being written
 * (its block lists exist before its manifest). s3:ListBucket reveals key names, never their
 * contents: keep the repository in a bucket of its own.
 */
export function repositoryReadStatements(location: S3RepositoryLocation): PolicyStatement[] {
  const statements: PolicyStatement[] = [
    {
      Sid: 'BackupRepositoryRead',
      Effect: 'Allow',
      Action: 's3:GetObject',
      Resource: repositoryObjectsArn(location),
    },
    { Sid: 'BackupRepositoryList', Effect: 'Allow', Action: 's3:ListBucket', Resource: bucketArn(location) },
  ];
  if (location.kmsKeyArn) {
    statements.push({
      Sid: 'BackupRepositoryDecrypt',
      Effect: 'Allow',
      Action: 'kms:Decrypt',
      Resource: location.kmsKeyArn,
    });
  }
  return statements;
}

/** One S3 request the worker role makes on the repository during a plan or a restore. */
export interface RepositoryRequest {
  action: string;
  resource: string;
  context?: RequestContext;
  /** What the request is for, for messages. */
  purpose: string;
  /**
   * Without it the restore still runs (it reads only objects that exist), but a missing object
   * answers AccessDenied instead of "not found": a warning, not a failure.
   */
  notFoundAnswers?: boolean;
}

/**
 * The requests a restore of `restorePointId` makes on the repository as the worker role: the
 * catalogue's listing, the manifest, block lists and blocks, and the s3:ListBucket that lets S3 say
 * "not found". A block stands for every block (`blocks/*`): their keys are not in the restore point's summary.
 */
export function repositoryRequests(
  location: S3RepositoryLocation,
  restorePointId: string,
): RepositoryRequest[] {
  const object = (key: string) => `${bucketArn(location)}/${repositoryKey(location, key)}`;
  return [
    {
      action: 's3:ListBucket',
      resource: bucketArn(location),
      context: { 's3:prefix': repositoryKey(location, 'restore-points/'), 's3:delimiter': '/' },
      purpose: 'the API lists the restore points',
    },
    {
      action: 's3:GetObject',
      resource: object(`restore-points/${restorePointId}/manifest.json`),
      purpose: "the API and the snapshot worker read the restore point's manifest",
    },
    {
      action: 's3:GetObject',
      resource: object(`restore-points/${restorePointId}/*`),
      purpose: "the snapshot worker reads the volumes' block lists",
    },
    {
      action: 's3:GetObject',
      resource: object('blocks/*'),
      purpose: 'the snapshot worker reads the blocks',
    },
    {
      action: 's3:ListBucket',
      resource: bucketArn(location),
      purpose: 'S3 answers "not found" for a missing object (AccessDenied without it)',
      notFoundAnswers: true,
    },
  ];
}
