import {
  type DataPath,
  type KmsGrantMode,
  type RestoreMode,
  TRANSFER_KEY_ALIAS_PREFIX,
  transferKeyPolicy,
} from '@ec2-restore/contracts';
import {
  type GrantRequest,
  type KeyOperationId,
  keyOperations,
  RESTORE_ROLE_GRANT_OPERATIONS,
} from './operations.ts';
import type { PolicyDocument, PolicyStatement } from './policy-types.ts';
import { repositoryReadStatements, type S3RepositoryLocation } from './repository-access.ts';
import { keyUseRequirements } from './requirements.ts';
import { actionsOf } from './step-actions.ts';

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
  /**
   * Another account: the snapshots are shared encrypted with the transfer key (request option
   * `transferKey`) instead of the source default key, which is then not used at all. @defaultValue false
   */
  transferKey?: boolean;
  /**
   * The transfer key's ARN once it exists (`POST /v1/restores/plan` shows it as `sharedKey.keyId`).
   * Before, the statements name every key of the source account in the region (`key/*`): the key
   * policies in the source account stay the boundary, and only the transfer key's names the restore role.
   */
  transferKeyArn?: string;
  /**
   * The backup repository when it is in S3 (`BACKUP_REPOSITORY=s3://bucket/prefix`, as
   * `parseRepositoryLocation` of @ec2-restore/backup-repository returns it): the worker role, which
   * the API and the snapshot worker run as, reads it. A repository in a folder needs no statement.
   */
  s3Repository?: S3RepositoryLocation;
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
  /** The key policy the product gives the transfer key when it creates it (`transferKey` only). */
  transferKeyPolicy?: PolicyDocument;
}

function pascal(value: string): string {
  return value
    .split(/[^A-Za-z0-9]+/)
    .filter(Boolean)
    .map((part) => part[0]!.toUpperCase() + part.slice(1))
    .join('');
}

const GRANT_MANAGEMENT = new Set(['kms:CreateGrant', 'kms:RevokeGrant', 'kms:ListGrants']);

/** Splits kms:CreateGrant off, so it can carry kms:GrantIsForAWSResource (EBS creates grants for volumes). */
function splitGrantAction(operation: KeyOperationId): {
  use: string[];
  grantForAwsResource: boolean;
  other: string[];
} {
  const op = keyOperations[operation];
  if (op.viaService === undefined) {
    // The product's own calls: its grant management in statements of their own, the rest with the key's use.
    return {
      use: op.policyActions.filter((a) => !GRANT_MANAGEMENT.has(a)),
      grantForAwsResource: false,
      other: op.policyActions.filter((a) => GRANT_MANAGEMENT.has(a)),
    };
  }
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
  return { use: [...use].sort(), other: [...other].sort(), grantForAwsResource };
}

/**
 * The product's own CreateGrant (kmsGrant "auto"), limited to the restore role as grantee and to the
 * grant's operations (https://docs.aws.amazon.com/kms/latest/developerguide/conditions-kms.html:
 * kms:GranteePrincipal, kms:GrantOperations).
 */
function restoreRoleGrantCondition(grant: GrantRequest) {
  return {
    StringEquals: { 'kms:GranteePrincipal': grant.grantee },
    'ForAllValues:StringEquals': { 'kms:GrantOperations': [...grant.operations] },
  };
}

/** The grant of kmsGrant "auto" to a restore role. */
export function restoreRoleGrant(restoreRoleArn: string): GrantRequest {
  return { grantee: restoreRoleArn, operations: RESTORE_ROLE_GRANT_OPERATIONS };
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
  grant?: GrantRequest,
): PolicyStatement[] {
  return keyStatements(operations, grant, { sidPrefix, useSid: 'UseKeyForEbs', principalArn, resource: '*' });
}

/** IAM identity policy statements that let a principal do the given operations with one key. */
export function identityStatementsFor(
  keyArn: string,
  operations: readonly KeyOperationId[],
  sidPrefix: string,
  grant?: GrantRequest,
): PolicyStatement[] {
  return keyStatements(operations, grant, { sidPrefix, useSid: 'UseKey', resource: keyArn });
}

/** Where the statements go: a key policy names the principal, an identity policy the key. */
interface Placement {
  sidPrefix: string;
  /** The Sid (after the prefix) of the statement of the key's use. */
  useSid: string;
  /** Key policy only: the principal the statements allow. */
  principalArn?: string;
  /** `*` (the key itself) in a key policy, the key's ARN in an identity policy. */
  resource: string;
}

/** The statements of the key's use, of grants for EBS, and of managing the restore's grant, placed. */
function keyStatements(
  operations: readonly KeyOperationId[],
  grant: GrantRequest | undefined,
  place: Placement,
): PolicyStatement[] {
  const { use, other, grantForAwsResource } = mergeOperations(operations);
  const statements: PolicyStatement[] = [
    ...(use.length > 0 ? [{ Sid: place.useSid, Effect: 'Allow' as const, Action: use }] : []),
    ...(grantForAwsResource
      ? [
          {
            Sid: 'GrantsForEbs',
            Effect: 'Allow' as const,
            Action: 'kms:CreateGrant',
            Condition: { Bool: { 'kms:GrantIsForAWSResource': 'true' } },
          },
        ]
      : []),
    ...manageGrantStatements(other, grant),
  ];
  return statements.map(({ Sid, Effect, Action, Condition }) => ({
    Sid: `${place.sidPrefix}${Sid}`,
    Effect,
    ...(place.principalArn ? { Principal: { AWS: place.principalArn } } : {}),
    Action,
    Resource: place.resource,
    ...(Condition ? { Condition } : {}),
  }));
}

/**
 * ListGrants (finding the restore's grant) and CreateGrant / RevokeGrant of kmsGrant "auto": CreateGrant
 * only for the restore role and the grant's operations.
 */
function manageGrantStatements(other: readonly string[], grant: GrantRequest | undefined): PolicyStatement[] {
  if (other.length === 0) return [];
  if (!grant || !other.includes('kms:CreateGrant')) {
    const findOnly = other.length === 1 && other[0] === 'kms:ListGrants';
    return [{ Sid: findOnly ? 'FindRestoreRoleGrant' : 'ManageGrants', Effect: 'Allow', Action: [...other] }];
  }
  const rest = other.filter((a) => a !== 'kms:CreateGrant');
  return [
    {
      Sid: 'GrantRestoreRole',
      Effect: 'Allow',
      Action: 'kms:CreateGrant',
      Condition: restoreRoleGrantCondition(grant),
    },
    ...(rest.length > 0
      ? [{ Sid: 'FindAndRevokeRestoreRoleGrant', Effect: 'Allow' as const, Action: rest }]
      : []),
  ];
}

/**
 * The worker role creates the transfer key on first use: CreateKey (no resource: the key does not
 * exist yet) and CreateAlias, which needs the permission on the alias and on the key
 * (https://docs.aws.amazon.com/kms/latest/developerguide/alias-access.html), only for the product's aliases.
 */
function transferKeyStatements(region: string, accountId: string, keyResource: string): PolicyStatement[] {
  return [
    { Sid: 'TransferKeyCreate', Effect: 'Allow', Action: 'kms:CreateKey', Resource: '*' },
    {
      Sid: 'TransferKeyAlias',
      Effect: 'Allow',
      Action: 'kms:CreateAlias',
      Resource: [`arn:aws:kms:${region}:${accountId}:${TRANSFER_KEY_ALIAS_PREFIX}*`, keyResource],
    },
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
      // DescribeKey: the steps too. No kms:ListGrants: the generated key statements allow without a grant,
      // so the pre-flight need not see grants (it reads them when it may); the steps that list grants have
      // it from the `find-restore-grant` operation.
      Action: ['kms:DescribeKey', 'kms:GetKeyPolicy'],
      Resource: keyArns,
    },
    {
      Sid: 'PreflightReadOwnPolicies',
      Effect: 'Allow',
      Action: ['iam:GetRole', 'iam:GetRolePolicy', 'iam:ListAttachedRolePolicies', 'iam:ListRolePolicies'],
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
  const transfer = config.mode === 'cross-account' && config.transferKey === true;
  const requirements = keyUseRequirements({
    mode: config.mode,
    dataPath: config.dataPath,
    kmsGrant: config.kmsGrant,
    hasRestoreRole: config.restoreRoleArn !== undefined,
    ...(transfer ? { transferKey: true } : {}),
  });
  const sourceAccountId = config.workerRoleArn.split(':')[4] ?? '';
  const transferKeyResource =
    config.transferKeyArn ?? `arn:aws:kms:${config.region}:${sourceAccountId}:key/*`;
  const keyArnOf = (key: 'target' | 'source-default' | 'transfer') => {
    if (key === 'target') return config.targetKeyArn;
    if (key === 'transfer') return transferKeyResource;
    if (!config.sourceDefaultKeyArn) throw new Error('sourceDefaultKeyArn is required for another account');
    return config.sourceDefaultKeyArn;
  };
  const principalArnOf = (principal: 'worker-role' | 'restore-role') => {
    if (principal === 'worker-role') return config.workerRoleArn;
    if (!config.restoreRoleArn) throw new Error('restoreRoleArn is required for another account');
    return config.restoreRoleArn;
  };

  const shape = {
    mode: config.mode,
    dataPath: config.dataPath,
    kmsGrant: config.kmsGrant,
    hasRestoreRole: config.restoreRoleArn !== undefined,
    ...(config.verify ? { verify: true } : {}),
  };
  // EC2 and EBS direct actions; sts:AssumeRole gets its own statement naming the role.
  const serviceActions = (principal: 'worker-role' | 'restore-role') =>
    actionsOf(shape, principal).filter((a) => !a.startsWith('sts:'));
  const workerStatements: PolicyStatement[] = [
    { Sid: 'RestoreEc2', Effect: 'Allow', Action: serviceActions('worker-role'), Resource: '*' },
  ];
  const restoreStatements: PolicyStatement[] = [];
  const targetKeyStatements: PolicyStatement[] = [];
  const sourceDefaultKeyStatements: PolicyStatement[] = [];

  for (const requirement of requirements) {
    const keyArn = keyArnOf(requirement.key);
    const principalArn = principalArnOf(requirement.principal);
    const prefix = pascal(`${requirement.principal} ${requirement.key} key`);
    const grant = config.restoreRoleArn ? restoreRoleGrant(config.restoreRoleArn) : undefined;
    const identity = identityStatementsFor(keyArn, requirement.operations, prefix, grant);
    (requirement.principal === 'worker-role' ? workerStatements : restoreStatements).push(...identity);
    // The transfer key's policy is the product's own (transferKeyPolicy): nothing to add to it.
    if (requirement.key === 'transfer') continue;
    const keyStatements = keyPolicyStatementsFor(principalArn, requirement.operations, prefix, grant);
    (requirement.key === 'target' ? targetKeyStatements : sourceDefaultKeyStatements).push(...keyStatements);
  }

  if (transfer) {
    workerStatements.push(...transferKeyStatements(config.region, sourceAccountId, transferKeyResource));
    workerStatements.push(...preflightReadStatement([transferKeyResource], config.workerRoleArn));
  } else if (config.mode === 'same-account' || !config.sourceDefaultKeyArn) {
    workerStatements.push(...preflightReadStatement([config.targetKeyArn], config.workerRoleArn));
  } else {
    workerStatements.push(...preflightReadStatement([config.sourceDefaultKeyArn], config.workerRoleArn));
  }

  if (config.s3Repository) workerStatements.push(...repositoryReadStatements(config.s3Repository));

  const result: GeneratedPolicies = {
    workerRolePolicy: { Version: '2012-10-17', Statement: workerStatements },
    targetKeyStatements,
    sourceDefaultKeyStatements,
  };
  if (transfer && config.restoreRoleArn) {
    result.transferKeyPolicy = transferKeyPolicy({ sourceAccountId, restoreRoleArn: config.restoreRoleArn });
  }
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
      Action: serviceActions('restore-role'),
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
