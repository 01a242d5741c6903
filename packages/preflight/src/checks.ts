import {
  type Check,
  type CheckId,
  type Remedy,
  type RestoreMode,
  selectVolumes,
} from '@ec2-restore/contracts';
import { parseCaller } from './caller.ts';
import type { KeyFacts, KeyMetadataFacts, PreflightFacts, PrincipalFacts } from './facts.ts';
import {
  concreteActions,
  type GrantRequest,
  type KeyOperationId,
  keyOperations,
  serviceCallContext,
} from './operations.ts';
import { checkStepPermissions } from './permission-checks.ts';
import { type AccessDecision, decideKeyAccess } from './policy-evaluator.ts';
import { identityStatementsFor, keyPolicyStatementsFor, restoreRoleGrant } from './policy-generator.ts';
import { type KeyUseRequirement, keyUseRequirements } from './requirements.ts';

/*
 * The pre-flight checks of docs/architecture.md#pre-flight-checks, as pure functions over gathered facts. Each returns
 * a Check with a stable id (see README.md), a message naming what was found, and a remedy with the
 * exact statement or command. runChecks() runs those that apply to a request, in a stable order.
 */

function pass(id: CheckId, message: string): Check {
  return { id, status: 'pass', message, remedy: null };
}
function fail(id: CheckId, message: string, remedy: Remedy): Check {
  return { id, status: 'fail', message, remedy };
}
function warn(id: CheckId, message: string, remedy: Remedy | null): Check {
  return { id, status: 'warn', message, remedy };
}

const kmsLinks = {
  keyState: 'https://docs.aws.amazon.com/kms/latest/developerguide/key-state.html',
  ebsEncryption: 'https://docs.aws.amazon.com/ebs/latest/userguide/ebs-encryption-requirements.html',
  shareSnapshot: 'https://docs.aws.amazon.com/ebs/latest/userguide/ebs-modifying-snapshot-permissions.html',
  defaultKey: 'https://docs.aws.amazon.com/ebs/latest/userguide/work-with-ebs-encr.html',
  multiRegion: 'https://docs.aws.amazon.com/kms/latest/developerguide/multi-region-keys-overview.html',
  assumeRole: 'https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_create_for-user_externalid.html',
} as const;

/** The account of the worker role vs the target account decides the mode; undefined when unknown. */
export function determineMode(facts: Pick<PreflightFacts, 'worker' | 'request'>): RestoreMode | undefined {
  const account = facts.worker.principal?.identity.accountId;
  if (account === undefined) return undefined;
  return account === facts.request.target.accountId ? 'same-account' : 'cross-account';
}

/** `worker-identity`: the worker credentials work (STS GetCallerIdentity). */
export function checkWorkerIdentity(facts: Pick<PreflightFacts, 'worker'>): Check {
  const { principal, identityError } = facts.worker;
  if (principal) {
    return pass(
      'worker-identity',
      `The workers run as ${principal.identity.arn} (account ${principal.identity.accountId}).`,
    );
  }
  return fail(
    'worker-identity',
    `The worker credentials do not work: STS GetCallerIdentity answered ${identityError?.code ?? 'an error'}: ${identityError?.message ?? 'unknown'}.`,
    {
      summary:
        'Give the workers valid AWS credentials (instance profile, AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY) and check that AWS_REGION and AWS_ENDPOINT_URL are right.',
      commands: ['aws sts get-caller-identity'],
    },
  );
}

/** `mode`: same account or another account; another account needs a restore role. */
export function checkMode(facts: Pick<PreflightFacts, 'worker' | 'request'>): Check {
  const mode = determineMode(facts);
  const target = facts.request.target.accountId;
  if (mode === undefined) {
    return fail(
      'mode',
      'The mode (same or another account) is unknown because the worker identity is unknown.',
      {
        summary: 'Fix the worker credentials first (see check worker-identity).',
      },
    );
  }
  const source = facts.worker.principal!.identity.accountId;
  if (mode === 'same-account') {
    return pass('mode', `Same account: the worker role and the target are both in account ${target}.`);
  }
  if (facts.request.target.roleArn === undefined) {
    return fail(
      'mode',
      `Another account: the workers run in ${source} and the target is ${target}, but the request names no target.roleArn to assume there.`,
      {
        summary: `Create a role in account ${target} that ${facts.worker.principal!.identity.arn} may assume, and pass its ARN as target.roleArn.`,
        links: [kmsLinks.assumeRole],
      },
    );
  }
  return pass(
    'mode',
    `Another account: the workers run in account ${source}, the instance is restored into account ${target}.`,
  );
}

/** `restore-role-assumable`: STS AssumeRole of target.roleArn (with the ExternalId) succeeded. */
export function checkRestoreRoleAssumable(
  facts: Pick<PreflightFacts, 'restoreRole' | 'worker'>,
): Check | undefined {
  const role = facts.restoreRole;
  if (!role) return undefined;
  if (role.principal) {
    return pass(
      'restore-role-assumable',
      `The worker role can assume ${role.roleArn}${role.externalId ? ' with the given ExternalId' : ''}.`,
    );
  }
  const workerArn =
    facts.worker.principal?.roleArn ??
    facts.worker.principal?.identity.arn ??
    'arn:aws:iam::SOURCE_ACCOUNT:role/WORKER_ROLE';
  const trustPrincipal = parseCaller({ arn: workerArn }).principalArn;
  const roleName = role.roleArn.split('/').at(-1) ?? '';
  const trust = {
    Version: '2012-10-17',
    Statement: [
      {
        Sid: 'WorkerRoleAssumesRestoreRole',
        Effect: 'Allow' as const,
        Principal: { AWS: trustPrincipal },
        Action: 'sts:AssumeRole',
        ...(role.externalId ? { Condition: { StringEquals: { 'sts:ExternalId': role.externalId } } } : {}),
      },
    ],
  };
  return fail(
    'restore-role-assumable',
    `The worker role cannot assume ${role.roleArn}: ${role.assumeError?.code ?? 'error'}: ${role.assumeError?.message ?? 'unknown'}.`,
    {
      summary: `Make sure ${role.roleArn} exists and its trust policy lets ${trustPrincipal} assume it${role.externalId ? ' with this ExternalId' : ''}; the worker role also needs sts:AssumeRole on it.`,
      policy: { attachTo: `trust policy of ${role.roleArn}`, statements: trust.Statement },
      commands: [
        `aws iam update-assume-role-policy --role-name ${roleName} --policy-document '${JSON.stringify(trust)}'`,
      ],
      links: [kmsLinks.assumeRole],
    },
  );
}

/** `*.exists`: DescribeKey worked. */
export function checkKeyExists(
  id: 'target-key.exists' | 'source-default-key.exists',
  label: string,
  key: KeyFacts,
  region: string,
): Check {
  if (key.metadata) return pass(id, `The ${label} ${key.requested} is ${key.metadata.arn}.`);
  if (key.describeError?.code === 'NotChecked') {
    return warn(id, `The ${label} ${key.requested} was not checked: ${key.describeError.message}.`, null);
  }
  const code = key.describeError?.code ?? 'error';
  const notFound = code === 'NotFoundException';
  return fail(
    id,
    `The ${label} ${key.requested} cannot be described in ${region}: ${code}: ${key.describeError?.message ?? 'unknown'}.`,
    {
      summary: notFound
        ? `Check the key id, ARN or alias of the ${label}: it must exist in ${region} (a key ARN of another region or account is not the same key).`
        : `Let the principal describe the ${label} (kms:DescribeKey in the key policy and its IAM policy).`,
      commands: [`aws kms describe-key --key-id ${key.requested} --region ${region}`],
    },
  );
}

/** `*.state`: the key is Enabled (not Disabled, not PendingDeletion…). */
export function checkKeyState(
  id: 'target-key.state' | 'source-default-key.state',
  label: string,
  key: KeyMetadataFacts,
): Check {
  if (key.keyState === 'Enabled') return pass(id, `The ${label} is enabled.`);
  const commands: Record<string, string[]> = {
    Disabled: [`aws kms enable-key --key-id ${key.arn} --region ${key.region}`],
    PendingDeletion: [
      `aws kms cancel-key-deletion --key-id ${key.arn} --region ${key.region}`,
      `aws kms enable-key --key-id ${key.arn} --region ${key.region}`,
    ],
  };
  const when =
    key.keyState === 'PendingDeletion' && key.deletionDate
      ? ` (deletion scheduled for ${key.deletionDate})`
      : '';
  return fail(
    id,
    `The ${label} ${key.arn} is ${key.keyState}${when}: EBS cannot use it, and a volume created with it fails.`,
    {
      summary:
        key.keyState === 'PendingDeletion'
          ? 'Cancel the key deletion and enable the key, or choose another key.'
          : key.keyState === 'Disabled'
            ? 'Enable the key, or choose another key.'
            : `Wait until the key is Enabled, or choose another key.`,
      ...(commands[key.keyState] ? { commands: commands[key.keyState] } : {}),
      links: [kmsLinks.keyState],
    },
  );
}

/** `*.spec`: EBS only uses symmetric encryption keys (SYMMETRIC_DEFAULT, ENCRYPT_DECRYPT). */
export function checkKeySpec(id: 'target-key.spec', label: string, key: KeyMetadataFacts): Check {
  if (key.keySpec === 'SYMMETRIC_DEFAULT' && key.keyUsage === 'ENCRYPT_DECRYPT') {
    return pass(id, `The ${label} is a symmetric encryption key.`);
  }
  return fail(
    id,
    `The ${label} ${key.arn} is ${key.keySpec} for ${key.keyUsage}; EBS only supports symmetric encryption keys (SYMMETRIC_DEFAULT, ENCRYPT_DECRYPT).`,
    {
      summary: 'Choose a symmetric encryption KMS key, or create one.',
      commands: [
        `aws kms create-key --key-spec SYMMETRIC_DEFAULT --key-usage ENCRYPT_DECRYPT --region ${key.region}`,
      ],
      links: [kmsLinks.ebsEncryption],
    },
  );
}

/** `target-key.region`: the key is in the target region (a multi-Region replica there counts). */
export function checkKeyRegion(key: KeyMetadataFacts, region: string): Check {
  if (key.region === region) {
    const replica =
      key.multiRegion && key.multiRegionKeyType === 'REPLICA' ? ' (a multi-Region replica)' : '';
    return pass('target-key.region', `The target key is in the target region ${region}${replica}.`);
  }
  return fail(
    'target-key.region',
    `The target key ${key.arn} is in ${key.region}, but the restore is in ${region}: EBS volumes can only be encrypted with a key of their own region.`,
    {
      summary: key.multiRegion
        ? `Replicate the multi-Region key to ${region} and name the replica (same key id, region ${region}) as target.kmsKeyId.`
        : `Choose a key in ${region}.`,
      ...(key.multiRegion
        ? {
            commands: [
              `aws kms replicate-key --key-id ${key.arn} --replica-region ${region} --region ${key.region}`,
            ],
          }
        : {}),
      links: [kmsLinks.multiRegion],
    },
  );
}

/**
 * `source-default-key.customer-managed`: AWS refuses to share snapshots encrypted with the AWS
 * managed `aws/ebs` key ("Encrypted snapshots with EBS default key cannot be shared", KB3057), so
 * another-account restores need a customer managed key as the region's EBS default key.
 */
export function checkSourceDefaultKeyCustomerManaged(facts: PreflightFacts): Check | undefined {
  const defaults = facts.sourceDefaultKey;
  const key = defaults?.key?.metadata;
  if (!defaults || !key) return undefined;
  if (key.keyManager === 'CUSTOMER') {
    return pass(
      'source-default-key.customer-managed',
      `The EBS default key of ${defaults.region} in the source account is customer managed (${key.arn}), so its snapshots can be shared.`,
    );
  }
  const region = defaults.region;
  const worker = facts.worker.principal;
  const workerArn = worker ? principalArnOf(worker) : `arn:aws:iam::${key.accountId}:role/WORKER_ROLE`;
  const restoreRoleArn =
    facts.request.target.roleArn ?? `arn:aws:iam::${facts.request.target.accountId}:role/RESTORE_ROLE`;
  const requirements = keyUseRequirements({
    mode: 'cross-account',
    dataPath: facts.request.dataPath,
    kmsGrant: facts.request.kmsGrant,
    hasRestoreRole: true,
  }).filter((r) => r.key === 'source-default');
  const statements = [
    {
      Sid: 'EnableRootPermissions',
      Effect: 'Allow' as const,
      Principal: { AWS: `arn:aws:iam::${key.accountId}:root` },
      Action: 'kms:*',
      Resource: '*',
    },
    ...requirements.flatMap((r) =>
      keyPolicyStatementsFor(
        r.principal === 'worker-role' ? workerArn : restoreRoleArn,
        r.operations,
        r.principal === 'worker-role' ? 'WorkerRole' : 'RestoreRole',
        restoreRoleGrant(restoreRoleArn),
      ),
    ),
  ];
  const policy = { Version: '2012-10-17', Statement: statements };
  return fail(
    'source-default-key.customer-managed',
    `The EBS default key of ${region} in the source account ${key.accountId} is the AWS managed key aws/ebs (${key.arn}). AWS refuses to share snapshots encrypted with it ("Encrypted snapshots with EBS default key cannot be shared", KB3057), so a restore into another account cannot work.`,
    {
      summary: `In account ${key.accountId}, create a customer managed key in ${region} whose key policy lets the worker role and the target account's restore role use it, and set it as the EBS default key of ${region}. Nothing was created.`,
      policy: { attachTo: 'key policy of the new customer managed key', statements },
      commands: [
        `aws kms create-key --description "EBS default key for ec2-restore" --key-spec SYMMETRIC_DEFAULT --key-usage ENCRYPT_DECRYPT --policy '${JSON.stringify(policy)}' --region ${region}`,
        `aws kms create-alias --alias-name alias/ec2-restore-ebs-default --target-key-id NEW_KEY_ID --region ${region}`,
        `aws ec2 modify-ebs-default-kms-key-id --kms-key-id alias/ec2-restore-ebs-default --region ${region}`,
      ],
      links: [kmsLinks.shareSnapshot, kmsLinks.defaultKey],
    },
  );
}

function principalArnOf(principal: PrincipalFacts): string {
  return parseCaller({
    arn: principal.identity.arn,
    ...(principal.roleArn ? { roleArn: principal.roleArn } : {}),
  }).principalArn;
}

/** The outcome of evaluating one principal's use of one key for some operations. */
export interface KeyUseEvaluation {
  status: 'pass' | 'fail' | 'warn';
  decisions: (AccessDecision & { operation: KeyOperationId })[];
}

/**
 * Evaluates whether a principal may use a key for the given operations, action by action, with the
 * request context EBS gives KMS calls made on the principal's behalf.
 */
export function evaluateKeyUse(input: {
  key: KeyFacts & { metadata: KeyMetadataFacts; policy: NonNullable<KeyFacts['policy']> };
  principal: PrincipalFacts;
  operations: readonly KeyOperationId[];
  region: string;
  /** The grant kmsGrant "auto" creates (for the condition keys of its CreateGrant). */
  grant?: GrantRequest;
}): KeyUseEvaluation {
  const decisions: KeyUseEvaluation['decisions'] = [];
  const caller = {
    arn: input.principal.identity.arn,
    ...(input.principal.roleArn ? { roleArn: input.principal.roleArn } : {}),
  };
  for (const operationId of input.operations) {
    const operation = keyOperations[operationId];
    for (const action of concreteActions(operation.policyActions)) {
      const decision = decideKeyAccess({
        keyArn: input.key.metadata.arn,
        keyPolicy: input.key.policy,
        ...(input.key.grants ? { grants: input.key.grants } : {}),
        caller,
        action,
        context: serviceCallContext(operation, action, input.region, input.grant),
        ...(input.principal.identityPolicies ? { identityPolicies: input.principal.identityPolicies } : {}),
      });
      decisions.push({ ...decision, operation: operationId });
    }
  }
  const status = decisions.some((d) => d.decision === 'deny')
    ? 'fail'
    : decisions.some((d) => d.decision === 'depends-on-iam')
      ? 'warn'
      : 'pass';
  return { status, decisions };
}

const principalLabel = { 'worker-role': 'worker role', 'restore-role': 'restore role' } as const;
const keyLabel = { target: 'target key', 'source-default': 'source default key' } as const;

/** `*.access.*`: a principal may use a key for what the restore makes it do. */
export function checkKeyAccess(requirement: KeyUseRequirement, facts: PreflightFacts): Check | undefined {
  const id = requirement.checkId;
  const key = requirement.key === 'target' ? facts.targetKey : facts.sourceDefaultKey?.key;
  const principal =
    requirement.principal === 'worker-role' ? facts.worker.principal : facts.restoreRole?.principal;
  const who = principalLabel[requirement.principal];
  const what = keyLabel[requirement.key];
  if (!key?.metadata) return undefined; // reported by *.exists
  if (!principal) {
    return warn(
      id,
      `Not checked: the ${who} is not available (see ${requirement.principal === 'worker-role' ? 'worker-identity' : 'restore-role-assumable'}).`,
      null,
    );
  }
  const metadata = key.metadata;
  const principalArn = principalArnOf(principal);
  const grant = facts.request.target.roleArn ? restoreRoleGrant(facts.request.target.roleArn) : undefined;
  const doing = requirement.operations.map((op) => keyOperations[op].description).join(', and ');
  const links = requirement.operations.map((op) => keyOperations[op].documentation);
  if (!key.policy) {
    return warn(
      id,
      `Cannot verify that ${principalArn} may use the ${what} ${metadata.arn}: its key policy could not be read (${key.policyError?.code ?? 'error'}).`,
      {
        summary: `Let the principal that runs the pre-flight checks read the key policy (kms:GetKeyPolicy), or make sure the key policy lets ${principalArn} ${doing}.`,
        policy: {
          attachTo: `key policy of ${metadata.arn}`,
          statements: keyPolicyStatementsFor(principalArn, requirement.operations, 'Restore', grant),
        },
        links,
      },
    );
  }
  const evaluation = evaluateKeyUse({
    key: { ...key, metadata, policy: key.policy },
    principal,
    operations: requirement.operations,
    region: facts.request.target.region,
    ...(grant ? { grant } : {}),
  });
  if (evaluation.status === 'pass') {
    const bases = [...new Set(evaluation.decisions.map((d) => d.basis))].join(', ');
    return pass(id, `The ${who} ${principalArn} may ${doing} with the ${what} ${metadata.arn} (${bases}).`);
  }
  const failing = evaluation.decisions.filter((d) => d.decision !== 'allow');
  const actions = [...new Set(failing.map((d) => d.action))];
  const detail = failing
    .slice(0, 3)
    .map((d) => `${d.action}: ${d.reason}`)
    .join('; ');
  const message = `The ${who} ${principalArn} ${evaluation.status === 'fail' ? 'may not' : 'may only if its IAM policies allow it'} ${doing} with the ${what} ${metadata.arn} (${actions.join(', ')}): ${detail}.`;
  const region = metadata.region;
  const sid = requirement.principal === 'worker-role' ? 'WorkerRole' : 'RestoreRole';
  const explicitDeny = failing.find((d) => d.basis.startsWith('explicit-deny'));
  if (explicitDeny) {
    return fail(id, message, {
      summary: `Remove or narrow the Deny (${explicitDeny.reason}) so it does not match ${principalArn}.`,
      links,
    });
  }
  const keyPolicyMissing = failing.some((d) => d.basis === 'not-allowed-by-key-policy');
  const roleName = principalArn.split('/').at(-1) ?? '';
  const iamStatements = identityStatementsFor(metadata.arn, requirement.operations, sid, grant);
  const iamDocument = JSON.stringify({ Version: '2012-10-17', Statement: iamStatements });
  const putRolePolicy = `aws iam put-role-policy --role-name ${roleName} --policy-name ec2-restore-kms-${requirement.key} --policy-document '${iamDocument}'`;
  const crossAccount = metadata.accountId !== principal.identity.accountId;
  if (keyPolicyMissing) {
    return fail(id, message, {
      summary: `Add these statements to the key policy of ${metadata.arn}${crossAccount ? `, and allow the same actions in the IAM policy of ${principalArn} (another account's key needs both)` : ''}.`,
      policy: {
        attachTo: `key policy of ${metadata.arn}`,
        statements: keyPolicyStatementsFor(principalArn, requirement.operations, sid, grant),
      },
      commands: [
        `aws kms get-key-policy --key-id ${metadata.arn} --policy-name default --query Policy --output text --region ${region} > key-policy.json`,
        '# add the statements above to the Statement list of key-policy.json, then:',
        `aws kms put-key-policy --key-id ${metadata.arn} --policy-name default --policy file://key-policy.json --region ${region}`,
        ...(crossAccount ? [putRolePolicy] : []),
      ],
      links,
    });
  }
  const remedy: Remedy = {
    summary: `The key policy leaves this to IAM: allow these actions in the IAM policy of ${principalArn}.`,
    policy: { attachTo: `IAM policy of ${principalArn}`, statements: iamStatements },
    commands: [putRolePolicy],
    links,
  };
  return evaluation.status === 'fail' ? fail(id, message, remedy) : warn(id, message, remedy);
}

/** `network.subnet` and `network.security-groups`: the target network exists. */
export function checkNetwork(facts: PreflightFacts): Check[] {
  const checks: Check[] = [];
  const { region, accountId } = facts.request.target;
  const subnet = facts.network?.subnet;
  const defaultVpc = facts.network?.defaultVpc;
  if (!subnet && defaultVpc) {
    checks.push(
      defaultVpc.found
        ? pass(
            'network.subnet',
            `No subnet given: the instance goes to the default VPC${defaultVpc.vpcId ? ` ${defaultVpc.vpcId}` : ''} of ${region}.`,
          )
        : fail(
            'network.subnet',
            `No subnet given, and account ${accountId} has no default VPC in ${region}${defaultVpc.error ? ` (${defaultVpc.error.code})` : ''}.`,
            {
              summary: `Give instance.subnetId (a subnet of account ${accountId} in ${region}), or create a default VPC.`,
              commands: [
                `aws ec2 create-default-vpc --region ${region}`,
                `aws ec2 describe-subnets --region ${region} --query 'Subnets[].[SubnetId,VpcId,AvailabilityZone]'`,
              ],
            },
          ),
    );
  }
  if (subnet) {
    checks.push(
      subnet.found
        ? pass(
            'network.subnet',
            `Subnet ${subnet.subnetId} exists in ${subnet.availabilityZone ?? region} (VPC ${subnet.vpcId ?? 'unknown'}).`,
          )
        : fail(
            'network.subnet',
            `Subnet ${subnet.subnetId} does not exist in account ${accountId}, region ${region}${subnet.error ? ` (${subnet.error.code})` : ''}.`,
            {
              summary: `Choose a subnet of account ${accountId} in ${region}.`,
              commands: [
                `aws ec2 describe-subnets --region ${region} --query 'Subnets[].[SubnetId,VpcId,AvailabilityZone]'`,
              ],
            },
          ),
    );
  }
  const groups = facts.network?.securityGroups;
  if (groups && groups.requested.length > 0) {
    const found = new Map(groups.found.map((g) => [g.groupId, g]));
    const missing = groups.requested.filter((id) => !found.has(id));
    const vpc = subnet?.vpcId;
    const otherVpc = vpc
      ? groups.found.filter((g) => g.vpcId !== undefined && g.vpcId !== vpc).map((g) => g.groupId)
      : [];
    if (missing.length > 0 || otherVpc.length > 0) {
      const parts = [
        missing.length > 0 ? `${missing.join(', ')} not found in account ${accountId}, region ${region}` : '',
        otherVpc.length > 0 ? `${otherVpc.join(', ')} not in the subnet's VPC ${vpc}` : '',
      ].filter(Boolean);
      checks.push(
        fail('network.security-groups', `Security groups: ${parts.join('; ')}.`, {
          summary: `Choose security groups of the VPC ${vpc ?? 'of the subnet'} in ${region}.`,
          commands: [
            `aws ec2 describe-security-groups --region ${region}${vpc ? ` --filters Name=vpc-id,Values=${vpc}` : ''} --query 'SecurityGroups[].[GroupId,GroupName]'`,
          ],
        }),
      );
    } else {
      checks.push(
        pass(
          'network.security-groups',
          `Security groups ${groups.requested.join(', ')} exist${vpc ? ` in VPC ${vpc}` : ''}.`,
        ),
      );
    }
  }
  return checks;
}

/** `instance.type`: the instance type exists in the region and runs the restore point's architecture. */
export function checkInstanceType(facts: PreflightFacts): Check | undefined {
  const type = facts.instanceType;
  if (!type || facts.request.instance.instanceId) return undefined;
  const region = facts.request.target.region;
  const architecture = facts.restorePoint.instance.architecture;
  if (!type.found) {
    return fail('instance.type', `Instance type ${type.instanceType} is not offered in ${region}.`, {
      summary: `Choose an instance type offered in ${region} for ${architecture}.`,
      commands: [
        `aws ec2 describe-instance-types --region ${region} --filters Name=processor-info.supported-architecture,Values=${architecture} --query 'InstanceTypes[].InstanceType'`,
      ],
    });
  }
  if (type.architectures && !type.architectures.includes(architecture)) {
    return fail(
      'instance.type',
      `Instance type ${type.instanceType} runs ${type.architectures.join(', ')}, but the restore point is ${architecture}.`,
      {
        summary: `Choose an instance type for ${architecture} (instance.instanceType), e.g. the restore point's ${facts.restorePoint.instance.instanceType}.`,
      },
    );
  }
  return pass(
    'instance.type',
    `Instance type ${type.instanceType} is offered in ${region} and runs ${architecture}.`,
  );
}

/** `instance.existing`: the instance of a volume-level restore exists and the device names are free. */
export function checkExistingInstance(facts: PreflightFacts): Check | undefined {
  const instanceId = facts.request.instance.instanceId;
  if (!instanceId) return undefined;
  const existing = facts.existingInstance;
  const { region, accountId } = facts.request.target;
  if (!existing?.found || existing.state === 'terminated' || existing.state === 'shutting-down') {
    return fail(
      'instance.existing',
      `Instance ${instanceId} does not exist (or is terminated) in account ${accountId}, region ${region}.`,
      {
        summary:
          'Name a running or stopped instance of the target account and region, or leave instance.instanceId out to create one.',
        commands: [`aws ec2 describe-instances --instance-ids ${instanceId} --region ${region}`],
      },
    );
  }
  const requested = facts.request.volumes ?? [];
  const taken = requested.filter((device) => existing.deviceNames?.includes(device));
  if (taken.length > 0) {
    return fail('instance.existing', `Instance ${instanceId} already has volumes at ${taken.join(', ')}.`, {
      summary: 'Detach those volumes first, or restore other device names.',
      commands: taken.map(
        (device) =>
          `aws ec2 describe-volumes --filters Name=attachment.instance-id,Values=${instanceId} Name=attachment.device,Values=${device} --region ${region}`,
      ),
    });
  }
  return pass(
    'instance.existing',
    `Instance ${instanceId} exists (${existing.state ?? 'state unknown'}) in ${existing.availabilityZone ?? region}; the restored volumes are created there.`,
  );
}

/** The devices a restore restores: the requested volumes, or all of the restore point. */
export function restoredVolumes(facts: Pick<PreflightFacts, 'request' | 'restorePoint'>) {
  return selectVolumes(facts.restorePoint.volumes, facts.request.volumes).selected;
}

/** `restore-point.volumes`: the requested device names are in the restore point; a full restore has its root volume. */
export function checkRestorePointVolumes(facts: PreflightFacts): Check {
  const available = facts.restorePoint.volumes.map((v) => v.deviceName);
  const missing = selectVolumes(facts.restorePoint.volumes, facts.request.volumes).unknown;
  if (missing.length > 0) {
    return fail(
      'restore-point.volumes',
      `The restore point has no volume ${missing.join(', ')}; it has ${available.join(', ') || 'none'}.`,
      {
        summary: `List only device names of the restore point in volumes: ${available.join(', ')}.`,
      },
    );
  }
  const root = facts.restorePoint.instance.rootDeviceName;
  if (!facts.request.volumes && !available.includes(root)) {
    return fail(
      'restore-point.volumes',
      `The restore point has no volume for its root device ${root}, so an instance cannot be restored from it.`,
      {
        summary: 'Restore its volumes with a volume-level restore (volumes and instance.instanceId) instead.',
      },
    );
  }
  return pass(
    'restore-point.volumes',
    `Restoring ${restoredVolumes(facts)
      .map((v) => v.deviceName)
      .join(', ')}.`,
  );
}

/** EBS limits per volume type: https://docs.aws.amazon.com/ebs/latest/userguide/ebs-volume-types.html */
const volumeTypeLimits: Record<
  string,
  { minGiB: number; maxGiB: number; iops?: [number, number]; throughput?: [number, number] }
> = {
  gp3: { minGiB: 1, maxGiB: 65536, iops: [3000, 80000], throughput: [125, 2000] },
  gp2: { minGiB: 1, maxGiB: 16384 },
  io1: { minGiB: 4, maxGiB: 16384, iops: [100, 64000] },
  io2: { minGiB: 4, maxGiB: 65536, iops: [100, 256000] },
  st1: { minGiB: 125, maxGiB: 16384 },
  sc1: { minGiB: 125, maxGiB: 16384 },
  standard: { minGiB: 1, maxGiB: 1024 },
};

/** `restore-point.volume-limits`: each volume's type, size, IOPS and throughput are within EBS limits. */
export function checkVolumeLimits(facts: PreflightFacts): Check {
  const problems: string[] = [];
  for (const volume of restoredVolumes(facts)) {
    const limits = volumeTypeLimits[volume.volumeType];
    if (!limits) {
      problems.push(
        `${volume.deviceName}: volume type ${volume.volumeType} is not one of ${Object.keys(volumeTypeLimits).join(', ')}`,
      );
      continue;
    }
    if (
      !Number.isInteger(volume.sizeGiB) ||
      volume.sizeGiB < limits.minGiB ||
      volume.sizeGiB > limits.maxGiB
    ) {
      problems.push(
        `${volume.deviceName}: ${volume.sizeGiB} GiB is outside ${limits.minGiB}-${limits.maxGiB} GiB for ${volume.volumeType}`,
      );
    }
    if (
      volume.iops !== undefined &&
      limits.iops &&
      (volume.iops < limits.iops[0] || volume.iops > limits.iops[1])
    ) {
      problems.push(
        `${volume.deviceName}: ${volume.iops} IOPS is outside ${limits.iops[0]}-${limits.iops[1]} for ${volume.volumeType}`,
      );
    }
    if (
      volume.throughput !== undefined &&
      limits.throughput &&
      (volume.throughput < limits.throughput[0] || volume.throughput > limits.throughput[1])
    ) {
      problems.push(
        `${volume.deviceName}: ${volume.throughput} MiB/s is outside ${limits.throughput[0]}-${limits.throughput[1]} for ${volume.volumeType}`,
      );
    }
  }
  if (problems.length > 0) {
    return fail('restore-point.volume-limits', `Volumes outside EBS limits: ${problems.join('; ')}.`, {
      summary: 'The restore point holds volumes EBS cannot create as recorded; check its manifest.',
      links: ['https://docs.aws.amazon.com/ebs/latest/userguide/ebs-volume-types.html'],
    });
  }
  return pass('restore-point.volume-limits', 'Every volume fits the EBS limits of its type.');
}

/** Without DescribeInstanceTypes data, the Nitro limit of 28 attachments (one is the network interface). */
const defaultMaxEbsVolumes = 27;

/** `restore-point.attachments`: the instance can take that many volumes. */
export function checkAttachments(facts: PreflightFacts): Check {
  const restoring = restoredVolumes(facts).length;
  const already = facts.request.instance.instanceId ? (facts.existingInstance?.deviceNames?.length ?? 0) : 0;
  const total = restoring + already;
  const max = facts.instanceType?.maxEbsVolumes ?? defaultMaxEbsVolumes;
  const known = facts.instanceType?.maxEbsVolumes !== undefined;
  if (total <= max)
    return pass(
      'restore-point.attachments',
      `${total} EBS volume(s) on the instance, within its limit of ${max}.`,
    );
  const message = `${total} EBS volumes would be attached (${restoring} restored${already ? `, ${already} already there` : ''}), more than the ${max} the instance ${known ? 'type supports' : 'likely supports'}.`;
  const remedy = {
    summary: 'Restore fewer volumes (volumes), or choose an instance type that supports more.',
    links: ['https://docs.aws.amazon.com/ec2/latest/instancetypes/ec2-nitro-instances.html'],
  };
  return known
    ? fail('restore-point.attachments', message, remedy)
    : warn('restore-point.attachments', message, remedy);
}

/**
 * Runs every check that applies to the facts' request, in a stable order. The API rejects a
 * request when any check fails; warnings let it go on.
 */
export function runChecks(facts: PreflightFacts): Check[] {
  const checks: (Check | undefined)[] = [];
  const region = facts.request.target.region;
  checks.push(checkWorkerIdentity(facts), checkMode(facts));
  const mode = determineMode(facts);
  checks.push(checkRestoreRoleAssumable(facts));

  const target = facts.targetKey;
  checks.push(checkKeyExists('target-key.exists', 'target key', target, region));
  if (target.metadata) {
    checks.push(checkKeyState('target-key.state', 'target key', target.metadata));
    checks.push(checkKeySpec('target-key.spec', 'target key', target.metadata));
    checks.push(checkKeyRegion(target.metadata, region));
  }

  if (mode === 'cross-account') {
    const defaults = facts.sourceDefaultKey;
    if (defaults?.error || !defaults?.key) {
      checks.push(
        fail(
          'source-default-key.exists',
          `The EBS default key of ${region} in the source account could not be read: ${defaults?.error?.code ?? 'not gathered'}: ${defaults?.error?.message ?? ''}`.trim(),
          {
            summary: 'Allow the worker role ec2:GetEbsDefaultKmsKeyId and ec2:GetEbsEncryptionByDefault.',
            commands: [`aws ec2 get-ebs-default-kms-key-id --region ${region}`],
          },
        ),
      );
    } else {
      checks.push(checkKeyExists('source-default-key.exists', 'source default key', defaults.key, region));
      checks.push(checkSourceDefaultKeyCustomerManaged(facts));
      if (defaults.key.metadata)
        checks.push(checkKeyState('source-default-key.state', 'source default key', defaults.key.metadata));
    }
  }

  if (mode) {
    const shape = {
      mode,
      dataPath: facts.request.dataPath,
      kmsGrant: facts.request.kmsGrant,
      hasRestoreRole: facts.request.target.roleArn !== undefined,
      ...(facts.request.verify ? { verify: true } : {}),
    };
    for (const requirement of keyUseRequirements(shape)) checks.push(checkKeyAccess(requirement, facts));
    checks.push(checkStepPermissions(facts, shape, 'worker-role'));
    checks.push(checkStepPermissions(facts, shape, 'restore-role'));
  }

  checks.push(...checkNetwork(facts), checkInstanceType(facts), checkExistingInstance(facts));
  checks.push(checkRestorePointVolumes(facts), checkVolumeLimits(facts), checkAttachments(facts));
  return checks.filter((c): c is Check => c !== undefined);
}
