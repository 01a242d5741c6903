import type { RestorePointShape, RestoreRequest } from '@ec2-restore/contracts';
import type { KmsGrant, PolicyDocument } from './policy-types.ts';
import type { S3RepositoryLocation } from './repository-access.ts';

/**
 * The facts the pre-flight checks run on. The gatherer (gather-facts.ts and the gather-*-facts.ts
 * files it calls) collects them from AWS with the credentials each step really uses; tests build
 * them by hand. Every field that AWS may refuse
 * to tell has an `…Error` twin, so a check can say "could not read X" instead of guessing.
 */

/** An AWS error as a check reports it. */
export interface AwsErrorFact {
  code: string;
  message: string;
}

/** STS GetCallerIdentity. */
export interface IdentityFacts {
  arn: string;
  accountId: string;
}

/** KMS DescribeKey, reduced to what the checks need. */
export interface KeyMetadataFacts {
  arn: string;
  keyId: string;
  accountId: string;
  /** The region of the key ARN (a multi-Region replica has its own ARN in its region). */
  region: string;
  /** Enabled, Disabled, PendingDeletion, PendingImport, Unavailable, Creating, PendingReplicaDeletion, Updating. */
  keyState: string;
  /** `AWS` for AWS managed keys such as `aws/ebs`, `CUSTOMER` for customer managed keys. */
  keyManager: 'AWS' | 'CUSTOMER';
  /** SYMMETRIC_DEFAULT, RSA_2048, ECC_NIST_P256, HMAC_256… */
  keySpec: string;
  /** ENCRYPT_DECRYPT, SIGN_VERIFY, GENERATE_VERIFY_MAC, KEY_AGREEMENT. */
  keyUsage: string;
  multiRegion: boolean;
  multiRegionKeyType?: 'PRIMARY' | 'REPLICA';
  /** ISO date of scheduled deletion, for PendingDeletion. */
  deletionDate?: string;
}

/** A key as CreateKey makes it by default: enabled, customer managed, symmetric, in one Region. */
export function newKeyMetadata(
  key: Pick<KeyMetadataFacts, 'arn' | 'keyId' | 'accountId' | 'region'>,
): KeyMetadataFacts {
  return {
    ...key,
    keyState: 'Enabled',
    keyManager: 'CUSTOMER',
    keySpec: 'SYMMETRIC_DEFAULT',
    keyUsage: 'ENCRYPT_DECRYPT',
    multiRegion: false,
  };
}

/** A KMS key as one principal sees it. */
export interface KeyFacts {
  /** The identifier as the request or AWS named it (key id, key ARN, alias name or alias ARN). */
  requested: string;
  /** DescribeKey; absent when it failed (see describeError). */
  metadata?: KeyMetadataFacts;
  describeError?: AwsErrorFact;
  /** The key policy (GetKeyPolicy "default"); absent when it could not be read (see policyError). */
  policy?: PolicyDocument;
  policyError?: AwsErrorFact;
  /** ListGrants; absent when not readable. */
  grants?: KmsGrant[];
}

/** What EC2 answered when an action was tried with DryRun. */
export interface DryRunFact {
  /** `allowed` (DryRunOperation), `denied` (UnauthorizedOperation), else `inconclusive`. */
  outcome: 'allowed' | 'denied' | 'inconclusive';
  /** The answer's code: DryRunOperation, UnauthorizedOperation, InvalidVolume.NotFound… */
  code: string;
  message?: string;
}

/** A principal the restore acts as, with its IAM identity policies when they could be read. */
export interface PrincipalFacts {
  identity: IdentityFacts;
  /** For an assumed role: its ARN (with path). */
  roleArn?: string;
  /** Inline and attached identity policies; absent when IAM could not be read. */
  identityPolicies?: PolicyDocument[];
  /** EC2 actions the steps will call as this principal, tried with DryRun, by IAM action name. */
  dryRun?: Record<string, DryRunFact>;
}

/** The worker role: the credentials the workers run with. */
export interface WorkerFacts {
  principal?: PrincipalFacts;
  /** GetCallerIdentity failed: the credentials are missing or wrong. */
  identityError?: AwsErrorFact;
}

/** STS AssumeRole of the restore role. */
export interface RestoreRoleFacts {
  roleArn: string;
  externalId?: string;
  /** Present when AssumeRole succeeded. */
  principal?: PrincipalFacts;
  assumeError?: AwsErrorFact;
}

/** EC2 GetEbsEncryptionByDefault and GetEbsDefaultKmsKeyId in the target region of the source account. */
export interface EbsDefaultKeyFacts {
  region: string;
  encryptionByDefault?: boolean;
  /** As GetEbsDefaultKmsKeyId returns it (a key ARN or `alias/aws/ebs`). */
  defaultKmsKeyId?: string;
  error?: AwsErrorFact;
  /** The default key as the worker role sees it. */
  key?: KeyFacts;
}

/** The target network (DescribeSubnets, DescribeSecurityGroups) in the target account and region. */
export interface NetworkFacts {
  /** When no subnet is given: the default VPC of the target region (RunInstances launches there). */
  defaultVpc?: { found: boolean; vpcId?: string; error?: AwsErrorFact };
  subnet?: {
    subnetId: string;
    found: boolean;
    vpcId?: string;
    availabilityZone?: string;
    error?: AwsErrorFact;
  };
  securityGroups?: {
    requested: string[];
    found: { groupId: string; vpcId?: string }[];
    error?: AwsErrorFact;
  };
}

/** EC2 DescribeInstanceTypes for the instance type of the restore. */
export interface InstanceTypeFacts {
  instanceType: string;
  found: boolean;
  /** x86_64, arm64, i386… */
  architectures?: string[];
  /** Maximum EBS volumes attachable, when known. */
  maxEbsVolumes?: number;
  /** NetworkInfo.EnaSupport: `required`, `supported` or `unsupported`. */
  enaSupport?: string;
  /** SupportedBootModes: `legacy-bios`, `uefi`. */
  bootModes?: string[];
  error?: AwsErrorFact;
}

/** DescribeInstances of the existing instance of a volume-level restore. */
export interface ExistingInstanceFacts {
  instanceId: string;
  found: boolean;
  state?: string;
  availabilityZone?: string;
  /** Device names in use (block device mappings). */
  deviceNames?: string[];
  error?: AwsErrorFact;
}

/**
 * What the restore point holds (its summary in the backup repository) and, when the repository is in
 * S3, where: the worker role must be able to read it (`repository.access`).
 */
export type RestorePointFacts = RestorePointShape & { repository?: S3RepositoryLocation };

/** Everything the checks look at. */
export interface PreflightFacts {
  request: RestoreRequest;
  worker: WorkerFacts;
  /** Present when the request names a restore role. */
  restoreRole?: RestoreRoleFacts;
  /** The target key as the principal that creates the restored volumes sees it. */
  targetKey: KeyFacts;
  /** Another account only: the source default key. */
  sourceDefaultKey?: EbsDefaultKeyFacts;
  /**
   * Another account with `transferKey`: the transfer key, described by its alias as the worker role
   * sees it (`describeError` NotFoundException when it does not exist yet).
   */
  transferKey?: KeyFacts;
  network?: NetworkFacts;
  instanceType?: InstanceTypeFacts;
  existingInstance?: ExistingInstanceFacts;
  restorePoint: RestorePointFacts;
}
