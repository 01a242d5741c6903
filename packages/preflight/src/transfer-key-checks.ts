import {
  type Check,
  keyPolicyPrincipalsBeyond,
  type SharedKey,
  transferKeyAliasFor,
  transferKeyPolicy,
} from '@ec2-restore/contracts';
import { fail, kmsLinks, pass, warn } from './check-result.ts';
import { type KeyFacts, newKeyMetadata, type PreflightFacts } from './facts.ts';
import { actionOnly } from './permission-checks.ts';
import { evaluateIdentityPolicies } from './policy-evaluator.ts';
import type { PolicyDocument } from './policy-types.ts';

/**
 * The transfer key in the pre-flight (request option `transferKey`, packages/contracts/src/transfer-key.ts):
 * which key the shared snapshots will be encrypted with, whether it exists or will be created, and
 * whether its key policy still names no one outside the source account but the restore role.
 */

/** The ARN a transfer key that does not exist yet is evaluated under (any key id of the account and region). */
export const PLANNED_KEY_ID = 'created-on-first-use';

/** Uses the transfer key instead of the source default key: another account, `transferKey`, a restore role. */
export function usesTransferKey(facts: Pick<PreflightFacts, 'request'>, mode: string | undefined): boolean {
  return mode === 'cross-account' && facts.request.transferKey === true && !!facts.request.target.roleArn;
}

/**
 * The transfer key as the checks evaluate it: as gathered when it exists; when its alias is not
 * found, the key the snapshot step will create, with the key policy it will be created with.
 */
export function effectiveTransferKey(facts: PreflightFacts): (KeyFacts & { planned: boolean }) | undefined {
  const gathered = facts.transferKey;
  const roleArn = facts.request.target.roleArn;
  const sourceAccountId = facts.worker.principal?.identity.accountId;
  if (!gathered || !roleArn || !sourceAccountId) return undefined;
  if (gathered.metadata || gathered.describeError?.code !== 'NotFoundException') {
    return { ...gathered, planned: false };
  }
  const region = facts.request.target.region;
  const metadata = newKeyMetadata({
    arn: `arn:aws:kms:${region}:${sourceAccountId}:key/${PLANNED_KEY_ID}`,
    keyId: PLANNED_KEY_ID,
    accountId: sourceAccountId,
    region,
  });
  const policy: PolicyDocument = transferKeyPolicy({ sourceAccountId, restoreRoleArn: roleArn });
  return { requested: transferKeyAliasFor(roleArn), metadata, policy, grants: [], planned: true };
}

/**
 * What keeps the worker role from creating the key and its alias (checked only while the key does not
 * exist): `denied` when no statement of its IAM policies allows it (the planned key's policy delegates to
 * IAM), `uncertain` when one allows it only for some resources or under conditions.
 */
function mayCreate(facts: PreflightFacts, alias: string): { denied: string[]; uncertain: string[] } {
  const denied: string[] = [];
  const uncertain: string[] = [];
  const principal = facts.worker.principal;
  const policies = principal?.identityPolicies;
  if (!principal || !policies) return { denied, uncertain };
  const caller = {
    arn: principal.identity.arn,
    ...(principal.roleArn ? { roleArn: principal.roleArn } : {}),
  };
  const { region } = facts.request.target;
  const account = principal.identity.accountId;
  const wanted: Array<[string, string]> = [
    ['kms:CreateKey', '*'],
    ['kms:CreateAlias', `arn:aws:kms:${region}:${account}:alias/${alias.replace(/^alias\//, '')}`],
    ['kms:CreateAlias', `arn:aws:kms:${region}:${account}:key/${PLANNED_KEY_ID}`],
  ];
  for (const [action, resource] of wanted) {
    const request = { caller, action, resource };
    const exact = evaluateIdentityPolicies(policies, request);
    if (exact.explicitDeny.length === 0 && exact.allow.length > 0) continue;
    const loose = evaluateIdentityPolicies(actionOnly(policies), request);
    const maybe = exact.explicitDeny.length === 0 && loose.allow.length > 0;
    (maybe ? uncertain : denied).push(`${action} on ${resource}`);
  }
  return { denied, uncertain };
}

/** `transfer-key`: the key exists and is usable with a policy the product wrote, or will be created. */
export function checkTransferKey(facts: PreflightFacts): Check | undefined {
  const roleArn = facts.request.target.roleArn;
  const key = effectiveTransferKey(facts);
  if (!roleArn || !key) return undefined;
  const alias = transferKeyAliasFor(roleArn);
  const region = facts.request.target.region;
  const account = facts.worker.principal?.identity.accountId ?? '';
  if (key.planned) {
    const { denied, uncertain } = mayCreate(facts, alias);
    const planned = `The transfer key ${alias} does not exist in ${region} of the source account ${account}: the first snapshot step creates it (CreateKey, CreateAlias) with a key policy that names no principal of another account but ${roleArn}.`;
    if (denied.length === 0 && uncertain.length === 0) return pass('transfer-key', planned);
    const remedy = {
      summary:
        'Allow the worker role kms:CreateKey on "*" and kms:CreateAlias on the alias and the key (the policy ' +
        'generator writes these statements: TransferKeyCreate, TransferKeyAlias).',
      links: ['https://docs.aws.amazon.com/kms/latest/developerguide/alias-access.html'],
    };
    if (denied.length > 0) {
      return fail(
        'transfer-key',
        `${planned} No statement of the worker role's IAM policies allows ${denied.join(', ')}: the snapshot step would fail.`,
        remedy,
      );
    }
    return warn(
      'transfer-key',
      `${planned} The worker role's IAM policies may not allow ${uncertain.join(', ')} (only for some resources or under conditions).`,
      remedy,
    );
  }
  const metadata = key.metadata;
  if (!metadata) {
    return fail(
      'transfer-key',
      `The transfer key ${alias} cannot be described: ${key.describeError?.code ?? 'error'}: ${key.describeError?.message ?? ''}`,
      { summary: 'Let the worker role describe its transfer key (kms:DescribeKey).' },
    );
  }
  const unusable =
    metadata.keyManager !== 'CUSTOMER' ||
    metadata.keySpec !== 'SYMMETRIC_DEFAULT' ||
    metadata.keyState !== 'Enabled';
  if (unusable) {
    return fail(
      'transfer-key',
      `The alias ${alias} points to ${metadata.arn}, which is ${metadata.keyState}, ${metadata.keyManager === 'CUSTOMER' ? 'customer' : 'AWS'} managed, ${metadata.keySpec}: not a usable transfer key.`,
      {
        summary: 'Enable the key, or delete the alias so the next restore creates a new transfer key.',
        commands: [
          `aws kms enable-key --key-id ${metadata.arn} --region ${region}`,
          `aws kms delete-alias --alias-name ${alias} --region ${region}`,
        ],
        links: [kmsLinks.keyState],
      },
    );
  }
  if (!key.policy) {
    return warn(
      'transfer-key',
      `The transfer key ${metadata.arn} exists, but its key policy could not be read (${key.policyError?.code ?? 'error'}); the share step reads it again and refuses to share if anyone but ${roleArn} outside the source account may use it.`,
      { summary: 'Let the worker role read the policy of its transfer key (kms:GetKeyPolicy).' },
    );
  }
  const beyond = keyPolicyPrincipalsBeyond(key.policy, metadata.accountId, roleArn);
  if (beyond.length > 0) {
    return fail(
      'transfer-key',
      `The key policy of the transfer key ${metadata.arn} lets ${beyond.join(', ')} use it besides the restore role ${roleArn}: the share step would refuse to share snapshots encrypted with it.`,
      {
        summary: `Put back the policy the product wrote (only the source account and ${roleArn}), or delete the alias so a new transfer key is created.`,
        commands: [
          `aws kms get-key-policy --key-id ${metadata.arn} --policy-name default --region ${region}`,
        ],
      },
    );
  }
  return pass(
    'transfer-key',
    `The shared snapshots will be encrypted with the transfer key ${metadata.arn} (${alias}), whose key policy names no principal of another account but ${roleArn}.`,
  );
}

/** For the plan: the key the shared snapshots are encrypted with (null for the same account). */
export function sharedKeyOf(facts: PreflightFacts, mode: string | undefined): SharedKey | null {
  if (mode !== 'cross-account') return null;
  if (usesTransferKey(facts, mode)) {
    const key = effectiveTransferKey(facts);
    return {
      kind: 'transfer',
      keyId: key && !key.planned ? (key.metadata?.arn ?? null) : null,
      alias: transferKeyAliasFor(facts.request.target.roleArn ?? ''),
      createdOnFirstUse: key?.planned ?? false,
    };
  }
  const defaults = facts.sourceDefaultKey;
  return {
    kind: 'source-default',
    keyId: defaults?.key?.metadata?.arn ?? defaults?.defaultKmsKeyId ?? null,
    alias: null,
    createdOnFirstUse: false,
  };
}
