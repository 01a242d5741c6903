import { type RestoreRequestInput, restoreRequestSchema } from '@ec2-restore/contracts';
import {
  type EbsDefaultKeyFacts,
  type InstanceTypeFacts,
  type KeyFacts,
  type KeyMetadataFacts,
  newKeyMetadata,
  type PreflightFacts,
  type PrincipalFacts,
  type RestorePointFacts,
} from './facts.ts';
import type { PolicyDocument, PolicyStatement } from './policy-types.ts';

/*
 * Builders of facts for unit tests (here and in other packages' tests): realistic defaults that
 * pass every check, so a test changes only what it is about.
 */

export const SOURCE = '111111111111';
export const TARGET = '222222222222';
export const REGION = 'eu-west-1';
export const WORKER_ROLE = `arn:aws:iam::${SOURCE}:role/ec2-restore-worker`;
export const WORKER_SESSION = `arn:aws:sts::${SOURCE}:assumed-role/ec2-restore-worker/i-0123456789abcdef0`;
export const RESTORE_ROLE = `arn:aws:iam::${TARGET}:role/Restore`;
export const RESTORE_SESSION = `arn:aws:sts::${TARGET}:assumed-role/Restore/ec2-restore`;
export const TARGET_KEY = `arn:aws:kms:${REGION}:${TARGET}:key/1234abcd-12ab-34cd-56ef-1234567890ab`;
export const SAME_ACCOUNT_KEY = `arn:aws:kms:${REGION}:${SOURCE}:key/1234abcd-12ab-34cd-56ef-1234567890ab`;
export const SOURCE_DEFAULT_KEY = `arn:aws:kms:${REGION}:${SOURCE}:key/0987dcba-09fe-87dc-65ba-ab0987654321`;
export const AWS_EBS_KEY = `arn:aws:kms:${REGION}:${SOURCE}:key/5555aaaa-55aa-55aa-55aa-5555aaaa5555`;

export const rootDelegation = (accountId: string): PolicyStatement => ({
  Sid: 'Enable IAM User Permissions',
  Effect: 'Allow',
  Principal: { AWS: `arn:aws:iam::${accountId}:root` },
  Action: 'kms:*',
  Resource: '*',
});

export const allowAllKms: PolicyDocument = {
  Version: '2012-10-17',
  Statement: [{ Effect: 'Allow', Action: 'kms:*', Resource: '*' }],
};

/** An identity policy allowing every EC2 and EBS direct action (the steps' own calls) and SSM reads (base images). */
export const allowAllEc2: PolicyDocument = {
  Version: '2012-10-17',
  Statement: [
    {
      Sid: 'AllEc2AndEbs',
      Effect: 'Allow',
      Action: ['ec2:*', 'ebs:*', 'ssm:GetParametersByPath'],
      Resource: '*',
    },
  ],
};

/** The key policy AWS gives AWS managed keys such as aws/ebs: usable only through EC2 by its own account. */
export function awsManagedEbsKeyPolicy(accountId: string, region: string): PolicyDocument {
  return {
    Version: '2012-10-17',
    Statement: [
      {
        Sid: 'Allow access through EBS for all principals in the account that are authorized to use EBS',
        Effect: 'Allow',
        Principal: { AWS: '*' },
        Action: [
          'kms:Encrypt',
          'kms:Decrypt',
          'kms:ReEncrypt*',
          'kms:GenerateDataKey*',
          'kms:CreateGrant',
          'kms:DescribeKey',
        ],
        Resource: '*',
        Condition: {
          StringEquals: { 'kms:CallerAccount': accountId, 'kms:ViaService': `ec2.${region}.amazonaws.com` },
        },
      },
      {
        Sid: 'Allow direct access to key metadata to the account',
        Effect: 'Allow',
        Principal: { AWS: `arn:aws:iam::${accountId}:root` },
        Action: ['kms:Describe*', 'kms:Get*', 'kms:List*', 'kms:RevokeGrant'],
        Resource: '*',
      },
    ],
  };
}

export function keyMetadata(arn: string, overrides: Partial<KeyMetadataFacts> = {}): KeyMetadataFacts {
  const [, , , region = REGION, accountId = SOURCE, resource = ''] = arn.split(':');
  return { ...newKeyMetadata({ arn, keyId: resource.replace('key/', ''), accountId, region }), ...overrides };
}

export function keyFacts(
  arn: string,
  statements: PolicyStatement[],
  overrides: Partial<KeyMetadataFacts> = {},
): KeyFacts {
  const metadata = keyMetadata(arn, overrides);
  return {
    requested: arn,
    metadata,
    policy: { Version: '2012-10-17', Statement: [rootDelegation(metadata.accountId), ...statements] },
  };
}

export function principal(
  sessionArn: string,
  roleArn: string,
  identityPolicies?: PolicyDocument[],
): PrincipalFacts {
  return {
    identity: { arn: sessionArn, accountId: sessionArn.split(':')[4] ?? '' },
    roleArn,
    ...(identityPolicies ? { identityPolicies } : {}),
  };
}

export const restorePoint: RestorePointFacts = {
  instance: {
    instanceType: 't3.micro',
    architecture: 'x86_64',
    platform: 'linux',
    rootDeviceName: '/dev/xvda',
    bootMode: 'legacy-bios',
    enaSupport: true,
  },
  volumes: [
    { deviceName: '/dev/xvda', sizeGiB: 8, volumeType: 'gp3', iops: 3000, throughput: 125 },
    { deviceName: '/dev/xvdf', sizeGiB: 20, volumeType: 'gp2' },
  ],
};

/** Same-account facts where every check passes (the worker role may use the target key). */
export function sameAccountFacts(request: Partial<RestoreRequestInput> = {}): PreflightFacts {
  return {
    request: restoreRequestSchema.parse({
      restorePointId: 'rp-1',
      target: { accountId: SOURCE, region: REGION, kmsKeyId: SAME_ACCOUNT_KEY },
      ...request,
    }),
    worker: { principal: principal(WORKER_SESSION, WORKER_ROLE, [allowAllKms, allowAllEc2]) },
    targetKey: keyFacts(SAME_ACCOUNT_KEY, []),
    restorePoint,
  };
}

/** Another-account facts where every check passes: customer managed default key shared with the restore role. */
export function crossAccountFacts(request: Partial<RestoreRequestInput> = {}): PreflightFacts {
  return {
    request: restoreRequestSchema.parse({
      restorePointId: 'rp-1',
      target: { accountId: TARGET, region: REGION, roleArn: RESTORE_ROLE, kmsKeyId: TARGET_KEY },
      ...request,
    }),
    worker: { principal: principal(WORKER_SESSION, WORKER_ROLE, [allowAllKms, allowAllEc2]) },
    restoreRole: {
      roleArn: RESTORE_ROLE,
      principal: principal(RESTORE_SESSION, RESTORE_ROLE, [allowAllKms, allowAllEc2]),
    },
    targetKey: keyFacts(TARGET_KEY, []),
    sourceDefaultKey: {
      region: REGION,
      encryptionByDefault: true,
      defaultKmsKeyId: SOURCE_DEFAULT_KEY,
      key: keyFacts(SOURCE_DEFAULT_KEY, [
        {
          Sid: 'AllowTargetAccount',
          Effect: 'Allow',
          Principal: { AWS: `arn:aws:iam::${TARGET}:root` },
          Action: [
            'kms:CreateGrant',
            'kms:Decrypt',
            'kms:DescribeKey',
            'kms:GenerateDataKeyWithoutPlaintext',
            'kms:ReEncrypt*',
          ],
          Resource: '*',
        },
      ]),
    },
    restorePoint,
  };
}

/** The source default key facts of a source account that kept the AWS managed aws/ebs key. */
export function awsEbsDefaultKeyFacts(): EbsDefaultKeyFacts {
  return {
    region: REGION,
    encryptionByDefault: false,
    defaultKmsKeyId: 'alias/aws/ebs',
    key: {
      requested: 'alias/aws/ebs',
      metadata: keyMetadata(AWS_EBS_KEY, { keyManager: 'AWS' }),
      policy: awsManagedEbsKeyPolicy(SOURCE, REGION),
    },
  };
}

/** An instance type DescribeInstanceTypes found: x86_64, with `extra` (ENA, boot modes, volume limits). */
export function foundInstanceType(
  instanceType: string,
  extra: Partial<InstanceTypeFacts> = {},
): InstanceTypeFacts {
  return { instanceType, found: true, architectures: ['x86_64'], ...extra };
}
