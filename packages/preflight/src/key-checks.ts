import type { Check, Remedy } from '@ec2-restore/contracts';
import { parseCaller } from './caller.ts';
import { fail, kmsLinks, pass, warn } from './check-result.ts';
import type { KeyFacts, KeyMetadataFacts, PreflightFacts, PrincipalFacts } from './facts.ts';
import {
  concreteActions,
  type GrantRequest,
  type KeyOperationId,
  keyOperations,
  serviceCallContext,
} from './operations.ts';
import { type AccessDecision, decideKeyAccess } from './policy-evaluator.ts';
import { identityStatementsFor, keyPolicyStatementsFor, restoreRoleGrant } from './policy-generator.ts';
import { type KeyUseRequirement, keyUseRequirements } from './requirements.ts';
import { effectiveTransferKey } from './transfer-key-checks.ts';

/** The KMS keys: existence, state, spec, region, customer managed, and who may use them (pure). */

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
      summary: `Restore with "transferKey": true: the snapshots are then encrypted with the product's transfer key for the restore role (created on first use in ${region} of account ${key.accountId}, its key policy naming only that role), and the target gets no rights on the source default key. Or, in account ${key.accountId}, create a customer managed key in ${region} whose key policy lets the worker role and the target account's restore role use it, and set it as the EBS default key of ${region} (the commands below). Nothing was created.`,
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
const keyLabel = {
  target: 'target key',
  'source-default': 'source default key',
  transfer: 'transfer key',
} as const;

/** `*.access.*`: a principal may use a key for what the restore makes it do. */
export function checkKeyAccess(requirement: KeyUseRequirement, facts: PreflightFacts): Check | undefined {
  const id = requirement.checkId;
  const key =
    requirement.key === 'target'
      ? facts.targetKey
      : requirement.key === 'transfer'
        ? effectiveTransferKey(facts)
        : facts.sourceDefaultKey?.key;
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
