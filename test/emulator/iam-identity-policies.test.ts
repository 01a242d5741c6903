import { randomUUID } from 'node:crypto';
import { StartSnapshotCommand } from '@aws-sdk/client-ebs';
import {
  CreateTagsCommand,
  CreateVolumeCommand,
  DeleteVolumeCommand,
  DescribeVolumesCommand,
} from '@aws-sdk/client-ec2';
import { DescribeKeyCommand } from '@aws-sdk/client-kms';
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutBucketPolicyCommand,
  PutObjectCommand,
} from '@aws-sdk/client-s3';
import { AssumeRoleCommand, GetCallerIdentityCommand } from '@aws-sdk/client-sts';
import type { AwsClients } from '@ec2-restore/aws-clients';
import { onceVisible } from '@ec2-restore/local-aws';
import { describe, expect, it } from 'vitest';
import {
  type Account,
  accountRoot,
  assumedRoleClients,
  createKey,
  createRestoreRole,
  expectAwsError,
  keyPolicy,
  newAccount,
  newBucket,
  putBlock,
  putRolePolicy,
  ZONE,
} from '../support/index.ts';

// AWS allows a role session's request only when the role's identity policies allow the action on
// every resource it names, and no statement denies it; across accounts the resource's own policy
// must allow it as well
// (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html,
// https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic-cross-account.html).
// Error texts: https://docs.aws.amazon.com/IAM/latest/UserGuide/troubleshoot_access-denied.html;
// EC2's UnauthorizedOperation (HTTP 403): https://docs.aws.amazon.com/AWSEC2/latest/APIReference/errors-overview.html.
// Plain moto 5.2.1 allows every call of every principal.

function identity(...statements: Record<string, unknown>[]): string {
  return JSON.stringify({ Version: '2012-10-17', Statement: statements });
}

/** A role of `account` that the account itself may assume, with `document` as identity policy. */
async function roleSession(account: Account, document: string | null) {
  const externalId = randomUUID();
  const roleArn = await createRestoreRole(account, account.id, externalId, document);
  const session = assumedRoleClients(account, roleArn, externalId);
  const sessionArn = (await session.sts.send(new GetCallerIdentityCommand({}))).Arn!;
  return { roleArn, roleName: roleArn.split('/').at(-1)!, session, sessionArn };
}

function ec2Denied(sessionArn: string, action: string, resource: string, explicit = false): string {
  const why = explicit
    ? 'with an explicit deny in an identity-based policy'
    : `because no identity-based policy allows the ${action} action`;
  return `You are not authorized to perform this operation. User: ${sessionArn} is not authorized to perform: ${action} on resource: ${resource} ${why}`;
}

describe('IAM identity policies on EC2 (UnauthorizedOperation, HTTP 403)', () => {
  it('a role without a policy may not create a volume; once its policy allows ec2:CreateVolume it may', async () => {
    const account = newAccount();
    const { session, sessionArn, roleName } = await roleSession(account, null);
    const create = () => session.ec2.send(new CreateVolumeCommand({ AvailabilityZone: ZONE, Size: 1 }));
    const error = await expectAwsError(
      create(),
      'UnauthorizedOperation',
      ec2Denied(sessionArn, 'ec2:CreateVolume', `arn:aws:ec2:eu-west-1:${account.id}:volume/*`),
    );
    expect(error.$metadata?.httpStatusCode).toBe(403);
    // Nothing was created.
    const { Volumes = [] } = await account.aws.ec2.send(new DescribeVolumesCommand({}));
    expect(Volumes).toHaveLength(0);

    await putRolePolicy(
      account,
      roleName,
      identity({ Effect: 'Allow', Action: 'ec2:CreateVolume', Resource: '*' }),
    );
    const volume = await create();
    expect(volume.VolumeId).toMatch(/^vol-/);
    // ... and nothing else: DescribeVolumes is another action.
    await expectAwsError(
      session.ec2.send(new DescribeVolumesCommand({})),
      'UnauthorizedOperation',
      ec2Denied(sessionArn, 'ec2:DescribeVolumes', '*'),
    );
  });

  it('an explicit Deny wins over ec2:*', async () => {
    const account = newAccount();
    const { session, sessionArn } = await roleSession(
      account,
      identity(
        { Effect: 'Allow', Action: 'ec2:*', Resource: '*' },
        { Effect: 'Deny', Action: 'ec2:DeleteVolume', Resource: '*' },
      ),
    );
    const { VolumeId } = await session.ec2.send(new CreateVolumeCommand({ AvailabilityZone: ZONE, Size: 1 }));
    await expectAwsError(
      session.ec2.send(new DeleteVolumeCommand({ VolumeId })),
      'UnauthorizedOperation',
      ec2Denied(
        sessionArn,
        'ec2:DeleteVolume',
        `arn:aws:ec2:eu-west-1:${account.id}:volume/${VolumeId}`,
        true,
      ),
    );
    // The root user of the account is not subject to identity policies.
    await onceVisible(() => account.aws.ec2.send(new DeleteVolumeCommand({ VolumeId })));
  });

  it('Action wildcards, NotAction and Resource ARN patterns', async () => {
    const account = newAccount();
    const { session, sessionArn } = await roleSession(
      account,
      identity(
        // Everything but deleting, on every resource ...
        { Effect: 'Allow', NotAction: ['ec2:Delete*', 'ec2:CreateTags'], Resource: '*' },
        // ... and tags on volumes only.
        { Effect: 'Allow', Action: 'ec2:Create*', Resource: 'arn:aws:ec2:*:*:volume/*' },
      ),
    );
    const { VolumeId } = await session.ec2.send(new CreateVolumeCommand({ AvailabilityZone: ZONE, Size: 1 }));
    await onceVisible(() =>
      session.ec2.send(new CreateTagsCommand({ Resources: [VolumeId!], Tags: [{ Key: 'k', Value: 'v' }] })),
    );
    await expectAwsError(
      session.ec2.send(new DeleteVolumeCommand({ VolumeId })),
      'UnauthorizedOperation',
      ec2Denied(sessionArn, 'ec2:DeleteVolume', `arn:aws:ec2:eu-west-1:${account.id}:volume/${VolumeId}`),
    );
    const instanceArn = `arn:aws:ec2:eu-west-1:${account.id}:instance/i-0123456789abcdef0`;
    await expectAwsError(
      session.ec2.send(
        new CreateTagsCommand({ Resources: ['i-0123456789abcdef0'], Tags: [{ Key: 'k', Value: 'v' }] }),
      ),
      'UnauthorizedOperation',
      ec2Denied(sessionArn, 'ec2:CreateTags', instanceArn),
    );
  });
});

describe('IAM identity policies on KMS, EBS direct and STS', () => {
  it('KMS: a key policy delegating to the account needs the identity policy too; one naming the role does not', async () => {
    const account = newAccount();
    const { session, sessionArn, roleArn, roleName } = await roleSession(account, null);
    const delegated = await createKey(account); // default key policy: the account's IAM policies decide
    await expectAwsError(
      session.kms.send(new DescribeKeyCommand({ KeyId: delegated.Arn! })),
      'AccessDeniedException',
      `User: ${sessionArn} is not authorized to perform: kms:DescribeKey on resource: ${delegated.Arn} because no identity-based policy allows the kms:DescribeKey action`,
    );
    const naming = await createKey(
      account,
      keyPolicy(accountRoot(account.id), {
        Effect: 'Allow',
        Principal: { AWS: roleArn },
        Action: 'kms:DescribeKey',
      }),
    );
    await session.kms.send(new DescribeKeyCommand({ KeyId: naming.Arn! }));
    await putRolePolicy(
      account,
      roleName,
      identity({ Effect: 'Allow', Action: 'kms:Describe*', Resource: delegated.Arn! }),
    );
    await session.kms.send(new DescribeKeyCommand({ KeyId: delegated.Arn! }));
  });

  it('KMS across accounts: the key policy and the caller identity policy must both allow', async () => {
    const owner = newAccount();
    const user = newAccount();
    const { session, sessionArn, roleName } = await roleSession(user, null);
    const key = await createKey(
      owner,
      keyPolicy(accountRoot(owner.id), {
        Effect: 'Allow',
        Principal: { AWS: user.rootArn },
        Action: 'kms:DescribeKey',
      }),
    );
    await expectAwsError(
      session.kms.send(new DescribeKeyCommand({ KeyId: key.Arn! })),
      'AccessDeniedException',
      `User: ${sessionArn} is not authorized to perform: kms:DescribeKey on resource: ${key.Arn} because no identity-based policy allows the kms:DescribeKey action`,
    );
    await putRolePolicy(
      user,
      roleName,
      identity({ Effect: 'Allow', Action: 'kms:DescribeKey', Resource: '*' }),
    );
    const described = await session.kms.send(new DescribeKeyCommand({ KeyId: key.Arn! }));
    expect(described.KeyMetadata!.Arn).toBe(key.Arn);
  });

  it('EBS direct: StartSnapshot needs ebs:StartSnapshot, PutSnapshotBlock ebs:PutSnapshotBlock (AccessDeniedException, HTTP 403)', async () => {
    const account = newAccount();
    const { session, sessionArn, roleName } = await roleSession(account, null);
    const start = () => session.ebs.send(new StartSnapshotCommand({ VolumeSize: 1, Encrypted: false }));
    const error = await expectAwsError(
      start(),
      'AccessDeniedException',
      `User: ${sessionArn} is not authorized to perform: ebs:StartSnapshot on resource: arn:aws:ec2:eu-west-1::snapshot/* because no identity-based policy allows the ebs:StartSnapshot action`,
    );
    expect(error.$metadata?.httpStatusCode).toBe(403);
    await putRolePolicy(
      account,
      roleName,
      identity({ Effect: 'Allow', Action: 'ebs:StartSnapshot', Resource: 'arn:aws:ec2:*::snapshot/*' }),
    );
    const { SnapshotId } = await start();
    expect(SnapshotId).toMatch(/^snap-/);
    // The block writes are checked too (ebs:PutSnapshotBlock on the snapshot's ARN).
    const block = Buffer.alloc(524288, 7);
    await expectAwsError(
      putBlock(session.ebs, SnapshotId!, 0, block),
      'AccessDeniedException',
      `User: ${sessionArn} is not authorized to perform: ebs:PutSnapshotBlock on resource: arn:aws:ec2:eu-west-1::snapshot/${SnapshotId} because no identity-based policy allows the ebs:PutSnapshotBlock action`,
    );
  });

  it('STS: assuming a role of another account needs sts:AssumeRole in the caller identity policy too', async () => {
    const caller = newAccount();
    const other = newAccount();
    const { session, sessionArn, roleName } = await roleSession(caller, null);
    const externalId = randomUUID();
    const otherRole = await createRestoreRole(other, caller.id, externalId);
    const assume = () =>
      session.sts.send(
        new AssumeRoleCommand({ RoleArn: otherRole, RoleSessionName: 'hop', ExternalId: externalId }),
      );
    await expectAwsError(
      assume(),
      'AccessDenied',
      `User: ${sessionArn} is not authorized to perform: sts:AssumeRole on resource: ${otherRole}`,
    );
    await putRolePolicy(
      caller,
      roleName,
      identity({ Effect: 'Allow', Action: 'sts:AssumeRole', Resource: otherRole }),
    );
    expect((await assume()).AssumedRoleUser?.Arn).toContain(`:${other.id}:assumed-role/`);
  });
});

describe('IAM identity policies on S3 (AccessDenied, HTTP 403)', () => {
  // The action and resource each S3 operation needs:
  // https://docs.aws.amazon.com/AmazonS3/latest/userguide/using-with-s3-policy-actions.html; the message:
  // https://docs.aws.amazon.com/AmazonS3/latest/userguide/troubleshoot-403-errors.html#access-denied-message-examples.
  function s3Denied(sessionArn: string, action: string, resource: string, explicit = false): string {
    const why = explicit
      ? 'with an explicit deny in an identity-based policy'
      : `because no identity-based policy allows the ${action} action`;
    return `User: ${sessionArn} is not authorized to perform: ${action} on resource: "${resource}" ${why}`;
  }

  async function headStatus(session: AwsClients, input: { Bucket: string; Key: string }) {
    const answer = await session.s3.send(new HeadObjectCommand(input)).then(
      (out) => out,
      (err: { $metadata?: { httpStatusCode?: number } }) => err,
    );
    return answer.$metadata?.httpStatusCode;
  }

  it('a role without a policy may not read, list, write or delete; each action is granted on its own ARN', async () => {
    const account = newAccount();
    const bucket = await newBucket(account);
    await account.aws.s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'repo/manifest', Body: 'm' }));
    const { session, sessionArn, roleName } = await roleSession(account, null);
    const object = `arn:aws:s3:::${bucket}/repo/manifest`;
    const get = () => session.s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'repo/manifest' }));
    const list = (Prefix: string) =>
      session.s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix, Delimiter: '/' }));
    const put = () => session.s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'repo/new', Body: 'n' }));
    const error = await expectAwsError(get(), 'AccessDenied', s3Denied(sessionArn, 's3:GetObject', object));
    expect(error.$metadata?.httpStatusCode).toBe(403);
    await expectAwsError(
      list('repo/'),
      'AccessDenied',
      s3Denied(sessionArn, 's3:ListBucket', `arn:aws:s3:::${bucket}`),
    );
    await expectAwsError(
      put(),
      'AccessDenied',
      s3Denied(sessionArn, 's3:PutObject', `arn:aws:s3:::${bucket}/repo/new`),
    );

    await putRolePolicy(
      account,
      roleName,
      identity(
        {
          Effect: 'Allow',
          Action: ['s3:GetObject', 's3:PutObject'],
          Resource: `arn:aws:s3:::${bucket}/repo/*`,
        },
        {
          Effect: 'Allow',
          Action: 's3:ListBucket',
          Resource: `arn:aws:s3:::${bucket}`,
          Condition: { StringLike: { 's3:prefix': 'repo/*' } },
        },
      ),
    );
    expect(await (await get()).Body!.transformToString()).toBe('m');
    await put();
    const { Contents = [] } = await list('repo/');
    expect(Contents.map((c) => c.Key).sort()).toEqual(['repo/manifest', 'repo/new']);
    // Outside the granted prefix, and another action (s3:DeleteObject), stay refused.
    await expectAwsError(
      list('other/'),
      'AccessDenied',
      s3Denied(sessionArn, 's3:ListBucket', `arn:aws:s3:::${bucket}`),
    );
    await expectAwsError(
      session.s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: 'repo/new' })),
      'AccessDenied',
      s3Denied(sessionArn, 's3:DeleteObject', `arn:aws:s3:::${bucket}/repo/new`),
    );
  });

  it('a missing object is NoSuchKey (404) only for a caller who may list the bucket, else AccessDenied (403)', async () => {
    // https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html and API_HeadObject.html, "Permissions".
    const account = newAccount();
    const bucket = await newBucket(account);
    const readOnly = { Effect: 'Allow', Action: 's3:GetObject', Resource: `arn:aws:s3:::${bucket}/*` };
    const { session, sessionArn, roleName } = await roleSession(account, identity(readOnly));
    const missing = { Bucket: bucket, Key: 'repo/missing' };
    await expectAwsError(
      session.s3.send(new GetObjectCommand(missing)),
      'AccessDenied',
      s3Denied(sessionArn, 's3:ListBucket', `arn:aws:s3:::${bucket}`),
    );
    // HEAD answers have no body: the status alone tells.
    expect(await headStatus(session, missing)).toBe(403);

    await putRolePolicy(
      account,
      roleName,
      identity(readOnly, { Effect: 'Allow', Action: 's3:ListBucket', Resource: `arn:aws:s3:::${bucket}` }),
    );
    await expectAwsError(session.s3.send(new GetObjectCommand(missing)), 'NoSuchKey');
    expect(await headStatus(session, missing)).toBe(404);
  });

  it('an explicit Deny wins over s3:*; the account root user keeps every permission', async () => {
    const account = newAccount();
    const bucket = await newBucket(account);
    const { session, sessionArn } = await roleSession(
      account,
      identity(
        { Effect: 'Allow', Action: 's3:*', Resource: '*' },
        { Effect: 'Deny', Action: 's3:PutObject', Resource: `arn:aws:s3:::${bucket}/locked/*` },
      ),
    );
    await session.s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'open/a', Body: 'a' }));
    await expectAwsError(
      session.s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'locked/a', Body: 'a' })),
      'AccessDenied',
      s3Denied(sessionArn, 's3:PutObject', `arn:aws:s3:::${bucket}/locked/a`, true),
    );
    await account.aws.s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'locked/a', Body: 'a' }));
    const { KeyCount } = await account.aws.s3.send(new ListObjectsV2Command({ Bucket: bucket }));
    expect(KeyCount).toBe(2);
  });

  it('another account reads a bucket only when the bucket policy allows it (and its identity policy does)', async () => {
    // https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic-cross-account.html;
    // across accounts S3 answers "Access Denied" without detail (troubleshoot-403-errors.html).
    const owner = newAccount();
    const reader = newAccount();
    const bucket = await newBucket(owner);
    await owner.aws.s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'repo/manifest', Body: 'm' }));
    const get = (aws: AwsClients) =>
      aws.s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'repo/manifest' }));
    await expectAwsError(get(reader.aws), 'AccessDenied', 'Access Denied');

    const { session, roleArn } = await roleSession(
      reader,
      identity({ Effect: 'Allow', Action: 's3:GetObject', Resource: `arn:aws:s3:::${bucket}/*` }),
    );
    await owner.aws.s3.send(
      new PutBucketPolicyCommand({
        Bucket: bucket,
        Policy: JSON.stringify({
          Version: '2012-10-17',
          Statement: [
            {
              Effect: 'Allow',
              Principal: { AWS: roleArn },
              Action: 's3:GetObject',
              Resource: `arn:aws:s3:::${bucket}/repo/*`,
            },
          ],
        }),
      }),
    );
    expect(await (await get(session)).Body!.transformToString()).toBe('m');
    // The reader account's root user is not the role the policy names.
    await expectAwsError(get(reader.aws), 'AccessDenied', 'Access Denied');
  });
});
