import type { DataPath, KmsGrantMode, RestoreMode } from '@ec2-restore/contracts';
import { type KeyOperationId, keyOperations } from './operations.ts';
import type { PolicyDocument, PolicyStatement } from './policy-types.ts';
import { keyUseRequirements } from './requirements.ts';

/** A restore configuration with the real ARNs, for generating least-privilege policies. */
export interface PolicyConfiguration {
  mode: RestoreMode;
  region: string;
  dataPath: DataPath;
  kmsGrant: KmsGrantMode;
  /**
   * Verified restores (the request's `verify`): with `ebs-direct` the worker reads the snapshot back
   * with ListSnapshotBlocks and GetSnapshotBlock. @defaultValue false
   */
  verify?: boolean;
  /** The worker role (its ARN with path). */
  workerRoleArn: string;
  /** The restore role; required for another account. */
  restoreRoleArn?: string;
  externalId?: string;
  targetKeyArn: string;
  /** Another account only: the customer managed key set as the EBS default key of the source account. */
  sourceDefaultKeyArn?: string;
}

/** Everything to set up for one restore configuration. */
export interface GeneratedPolicies {
  /** IAM identity policy for the worker role. */
  workerRolePolicy: PolicyDocument;
  /** IAM identity policy for the restore role (when there is one). */
  restoreRolePolicy?: PolicyDocument;
  /** Trust policy of the restore role: lets the worker role assume it (with the ExternalId). */
  restoreRoleTrustPolicy?: PolicyDocument;
  /** Statements to add to the target key's policy. */
  targetKeyStatements: PolicyStatement[];
  /** Statements to add to the source default key's policy (another account only). */
  sourceDefaultKeyStatements: PolicyStatement[];
}

function pascal(value: string): string {
  return value
    .split(/[^A-Za-z0-9]+/)
    .filter(Boolean)
    .map((part) => part[0]!.toUpperCase() + part.slice(1))
    .join('');
}

/** Splits kms:CreateGrant off, so it can carry kms:GrantIsForAWSResource (EBS creates grants for volumes). */
function splitGrantAction(operation: KeyOperationId): {
  use: string[];
  grantForAwsResource: boolean;
  other: string[];
} {
  const op = keyOperations[operation];
  if (op.viaService === undefined)
    return { use: [], grantForAwsResource: false, other: [...op.policyActions] };
  return {
    use: op.policyActions.filter((a) => a !== 'kms:CreateGrant'),
    grantForAwsResource: op.policyActions.includes('kms:CreateGrant'),
    other: [],
  };
}

function mergeOperations(operations: readonly KeyOperationId[]) {
  const use = new Set<string>();
  const other = new Set<string>();
  let grantForAwsResource = false;
  for (const operation of operations) {
    const split = splitGrantAction(operation);
    for (const a of split.use) use.add(a);
    for (const a of split.other) other.add(a);
    grantForAwsResource ||= split.grantForAwsResource;
  }
  // A plain CreateGrant (kmsGrant auto) covers the EBS one.
  if (other.has('kms:CreateGrant')) grantForAwsResource = false;
  return { use: [...use].sort(), other: [...other].sort(), grantForAwsResource };
}

/**
 * Key policy statements that let one principal do the given operations with the key.
 * `Resource: "*"` in a key policy means the key itself.
 * See https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-overview.html
 */
export function keyPolicyStatementsFor(
  principalArn: string,
  operations: readonly KeyOperationId[],
  sidPrefix: string,
): PolicyStatement[] {
  const { use, other, grantForAwsResource } = mergeOperations(operations);
  const principal = { AWS: principalArn };
  const statements: PolicyStatement[] = [];
  if (use.length > 0) {
    statements.push({
      Sid: `${sidPrefix}UseKeyForEbs`,
      Effect: 'Allow',
      Principal: principal,
      Action: use,
      Resource: '*',
    });
  }
  if (grantForAwsResource) {
    statements.push({
      Sid: `${sidPrefix}GrantsForEbs`,
      Effect: 'Allow',
      Principal: principal,
      Action: 'kms:CreateGrant',
      Resource: '*',
      Condition: { Bool: { 'kms:GrantIsForAWSResource': 'true' } },
    });
  }
  if (other.length > 0) {
    statements.push({
      Sid: `${sidPrefix}ManageGrants`,
      Effect: 'Allow',
      Principal: principal,
      Action: other,
      Resource: '*',
    });
  }
  return statements;
}

/** IAM identity policy statements that let a principal do the given operations with one key. */
export function identityStatementsFor(
  keyArn: string,
  operations: readonly KeyOperationId[],
  sidPrefix: string,
): PolicyStatement[] {
  const { use, other, grantForAwsResource } = mergeOperations(operations);
  const statements: PolicyStatement[] = [];
  if (use.length > 0)
    statements.push({ Sid: `${sidPrefix}UseKey`, Effect: 'Allow', Action: use, Resource: keyArn });
  if (grantForAwsResource) {
    statements.push({
      Sid: `${sidPrefix}GrantsForEbs`,
      Effect: 'Allow',
      Action: 'kms:CreateGrant',
      Resource: keyArn,
      Condition: { Bool: { 'kms:GrantIsForAWSResource': 'true' } },
    });
  }
  if (other.length > 0)
    statements.push({ Sid: `${sidPrefix}ManageGrants`, Effect: 'Allow', Action: other, Resource: keyArn });
  return statements;
}

/** EC2 / EBS actions each principal needs, by what it does. */
function workerEc2Actions(config: PolicyConfiguration): string[] {
  const actions = [
    'ec2:CreateTags',
    'ec2:DescribeSnapshots',
    'ec2:DescribeVolumes',
    'ec2:GetEbsDefaultKmsKeyId',
    'ec2:GetEbsEncryptionByDefault',
  ];
  if (config.dataPath === 'ebs-direct') {
    actions.push('ebs:StartSnapshot', 'ebs:PutSnapshotBlock', 'ebs:CompleteSnapshot');
    // Reading an encrypted snapshot back needs kms:Decrypt on its key, which writing needs already.
    // https://docs.aws.amazon.com/ebs/latest/userguide/ebsapi-permissions.html
    if (config.verify) actions.push('ebs:ListSnapshotBlocks', 'ebs:GetSnapshotBlock');
  } else
    actions.push(
      'ec2:CreateVolume',
      'ec2:AttachVolume',
      'ec2:DetachVolume',
      'ec2:CreateSnapshot',
      'ec2:DescribeInstances',
    );
  actions.push('ec2:DeleteSnapshot', 'ec2:DeleteVolume');
  if (config.mode === 'cross-account') actions.push('ec2:ModifySnapshotAttribute');
  if (config.mode === 'same-account' && !config.restoreRoleArn) actions.push(...instanceEc2Actions());
  return [...new Set(actions)].sort();
}

function instanceEc2Actions(): string[] {
  return [
    'ec2:AttachVolume',
    'ec2:CreateTags',
    'ec2:CreateVolume',
    'ec2:DescribeInstanceTypes',
    'ec2:DescribeInstances',
    'ec2:DescribeSecurityGroups',
    'ec2:DescribeSnapshots',
    'ec2:DescribeSubnets',
    'ec2:DescribeVolumes',
    'ec2:RunInstances',
    'ec2:StartInstances',
    'ec2:StopInstances',
  ];
}

/** The pre-flight checks read keys and the principal's own policies. */
function preflightReadStatement(keyArns: string[], roleArn: string): PolicyStatement[] {
  const roleName = roleArn.split('/').at(-1) ?? '';
  const rolePolicyArn = roleArn.replace(/:role\/.*$/, `:role/${roleName}`);
  return [
    {
      Sid: 'PreflightReadKeys',
      Effect: 'Allow',
      Action: ['kms:DescribeKey', 'kms:GetKeyPolicy', 'kms:ListGrants'],
      Resource: keyArns,
    },
    {
      Sid: 'PreflightReadOwnPolicies',
      Effect: 'Allow',
      Action: ['iam:GetRolePolicy', 'iam:ListAttachedRolePolicies', 'iam:ListRolePolicies'],
      Resource: rolePolicyArn,
    },
    {
      Sid: 'PreflightReadManagedPolicies',
      Effect: 'Allow',
      Action: ['iam:GetPolicy', 'iam:GetPolicyVersion'],
      Resource: '*',
    },
  ];
}

/**
 * The least-privilege policies for one restore configuration: IAM policies of the worker role and
 * the restore role, the restore role's trust policy, and the key policy statements of the target
 * key and the source default key. Fed back to the evaluator, they make every access check pass.
 */
export function generatePolicies(config: PolicyConfiguration): GeneratedPolicies {
  const requirements = keyUseRequirements({
    mode: config.mode,
    dataPath: config.dataPath,
    kmsGrant: config.kmsGrant,
    hasRestoreRole: config.restoreRoleArn !== undefined,
  });
  const keyArnOf = (key: 'target' | 'source-default') => {
    if (key === 'target') return config.targetKeyArn;
    if (!config.sourceDefaultKeyArn) throw new Error('sourceDefaultKeyArn is required for another account');
    return config.sourceDefaultKeyArn;
  };
  const principalArnOf = (principal: 'worker-role' | 'restore-role') => {
    if (principal === 'worker-role') return config.workerRoleArn;
    if (!config.restoreRoleArn) throw new Error('restoreRoleArn is required for another account');
    return config.restoreRoleArn;
  };

  const workerStatements: PolicyStatement[] = [
    { Sid: 'RestoreEc2', Effect: 'Allow', Action: workerEc2Actions(config), Resource: '*' },
  ];
  const restoreStatements: PolicyStatement[] = [];
  const targetKeyStatements: PolicyStatement[] = [];
  const sourceDefaultKeyStatements: PolicyStatement[] = [];

  for (const requirement of requirements) {
    const keyArn = keyArnOf(requirement.key);
    const principalArn = principalArnOf(requirement.principal);
    const prefix = pascal(`${requirement.principal} ${requirement.key} key`);
    const identity = identityStatementsFor(keyArn, requirement.operations, prefix);
    (requirement.principal === 'worker-role' ? workerStatements : restoreStatements).push(...identity);
    const keyStatements = keyPolicyStatementsFor(principalArn, requirement.operations, prefix);
    (requirement.key === 'target' ? targetKeyStatements : sourceDefaultKeyStatements).push(...keyStatements);
  }

  if (config.mode === 'same-account' || !config.sourceDefaultKeyArn) {
    workerStatements.push(...preflightReadStatement([config.targetKeyArn], config.workerRoleArn));
  } else {
    workerStatements.push(...preflightReadStatement([config.sourceDefaultKeyArn], config.workerRoleArn));
  }

  const result: GeneratedPolicies = {
    workerRolePolicy: { Version: '2012-10-17', Statement: workerStatements },
    targetKeyStatements,
    sourceDefaultKeyStatements,
  };
  if (config.restoreRoleArn) {
    workerStatements.push({
      Sid: 'AssumeRestoreRole',
      Effect: 'Allow',
      Action: 'sts:AssumeRole',
      Resource: config.restoreRoleArn,
    });
    restoreStatements.unshift({
      Sid: 'RestoreInstance',
      Effect: 'Allow',
      Action: instanceEc2Actions(),
      Resource: '*',
    });
    restoreStatements.push(...preflightReadStatement([config.targetKeyArn], config.restoreRoleArn));
    result.restoreRolePolicy = { Version: '2012-10-17', Statement: restoreStatements };
    // https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_create_for-user_externalid.html
    result.restoreRoleTrustPolicy = {
      Version: '2012-10-17',
      Statement: [
        {
          Sid: 'WorkerRoleAssumesRestoreRole',
          Effect: 'Allow',
          Principal: { AWS: config.workerRoleArn },
          Action: 'sts:AssumeRole',
          ...(config.externalId
            ? { Condition: { StringEquals: { 'sts:ExternalId': config.externalId } } }
            : {}),
        },
      ],
    };
  }
  return result;
}
