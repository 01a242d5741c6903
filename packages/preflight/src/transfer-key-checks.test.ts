import { type Check, type CheckId, transferKeyAliasFor, transferKeyPolicy } from '@ec2-restore/contracts';
import { describe, expect, it } from 'vitest';
import { runChecks } from './checks.ts';
import type { PreflightFacts } from './facts.ts';
import { planFromFacts } from './plan-steps.ts';
import { generatePolicies } from './policy-generator.ts';
import {
  allowAllEc2,
  awsEbsDefaultKeyFacts,
  crossAccountFacts,
  keyMetadata,
  principal,
  REGION,
  RESTORE_ROLE,
  RESTORE_SESSION,
  SOURCE,
  SOURCE_DEFAULT_KEY,
  TARGET,
  TARGET_KEY,
  WORKER_ROLE,
  WORKER_SESSION,
} from './test-facts.ts';

const TRANSFER_KEY = `arn:aws:kms:${REGION}:${SOURCE}:key/7777bbbb-77bb-77bb-77bb-7777bbbb7777`;
const ALIAS = transferKeyAliasFor(RESTORE_ROLE);

function byId(checks: Check[], id: CheckId): Check {
  const check = checks.find((c) => c.id === id);
  if (!check) throw new Error(`no check ${id} in ${checks.map((c) => c.id).join(', ')}`);
  return check;
}

/** Another account, the source default key aws/ebs, `transferKey: true`; the transfer key not created yet. */
function awsEbsSourceWithTransferKey(): PreflightFacts {
  const facts = crossAccountFacts({ transferKey: true, kmsGrant: 'auto' });
  facts.sourceDefaultKey = awsEbsDefaultKeyFacts();
  facts.transferKey = {
    requested: ALIAS,
    describeError: { code: 'NotFoundException', message: `Alias ${ALIAS} is not found.` },
  };
  return facts;
}

/** The transfer key as the snapshot step leaves it: the product's key policy, nothing else. */
function existingTransferKey(facts: PreflightFacts) {
  facts.transferKey = {
    requested: ALIAS,
    metadata: keyMetadata(TRANSFER_KEY),
    policy: transferKeyPolicy({ sourceAccountId: SOURCE, restoreRoleArn: RESTORE_ROLE }),
    grants: [],
  };
  return facts.transferKey;
}

/** Every KMS action but those that create the transfer key and its alias. */
const ALL_BUT_CREATING_THE_KEY = {
  Effect: 'Allow' as const,
  NotAction: ['kms:CreateKey', 'kms:CreateAlias'],
  Resource: '*',
};

describe('transfer key: the remedy for an aws/ebs source default key', () => {
  it('without it, the aws/ebs failure names transferKey as the first remedy', () => {
    const facts = awsEbsSourceWithTransferKey();
    facts.request.transferKey = false;
    const check = byId(runChecks(facts), 'source-default-key.customer-managed');
    expect(check.status).toBe('fail');
    expect(check.remedy?.summary).toMatch(/^Restore with "transferKey": true/);
  });

  it('with it, an aws/ebs source passes: the key is created on first use, and the plan says which key is shared', () => {
    const plan = planFromFacts(awsEbsSourceWithTransferKey());
    expect(plan.checks.filter((c) => c.status !== 'pass')).toEqual([]);
    // The source default key is not used at all, so it is not checked.
    expect(plan.checks.some((c) => c.id.startsWith('source-default-key'))).toBe(false);
    expect(byId(plan.checks, 'transfer-key').message).toContain('creates it');
    expect(byId(plan.checks, 'transfer-key.access.worker-role').status).toBe('pass');
    expect(byId(plan.checks, 'transfer-key.access.restore-role').status).toBe('pass');
    expect(plan.sharedKey).toEqual({ kind: 'transfer', keyId: null, alias: ALIAS, createdOnFirstUse: true });
    expect(plan.steps[0]?.name).toBe('create-transfer-key');
    const snapshots = plan.resources.filter(
      (r) => r.kind === 'ebs-snapshot' && r.step !== 'copy-root-snapshot',
    );
    expect(snapshots.map((r) => r.kmsKeyId)).toEqual([ALIAS, ALIAS]);
    expect(plan.resources.find((r) => r.kind === 'kms-grant')?.kmsKeyId).toBe(ALIAS);
    expect(plan.resources.find((r) => r.kind === 'kms-key')).toMatchObject({
      temporary: false,
      accountId: SOURCE,
    });
  });

  it('an existing transfer key with the policy the product wrote passes and is named in the plan', () => {
    const facts = awsEbsSourceWithTransferKey();
    existingTransferKey(facts);
    const plan = planFromFacts(facts);
    expect(plan.checks.filter((c) => c.status !== 'pass')).toEqual([]);
    expect(plan.sharedKey).toEqual({
      kind: 'transfer',
      keyId: TRANSFER_KEY,
      alias: ALIAS,
      createdOnFirstUse: false,
    });
    expect(plan.steps.some((s) => s.name === 'create-transfer-key')).toBe(false);
    expect(
      plan.resources
        .filter((r) => r.kind === 'ebs-snapshot' && r.step !== 'copy-root-snapshot')
        .map((r) => r.kmsKeyId),
    ).toEqual([TRANSFER_KEY, TRANSFER_KEY]);
  });

  it('fails when someone widened the transfer key policy to another principal', () => {
    const facts = awsEbsSourceWithTransferKey();
    const key = existingTransferKey(facts);
    const statements = key.policy!.Statement as object[];
    statements.push({
      Effect: 'Allow',
      Principal: { AWS: 'arn:aws:iam::999999999999:root' },
      Action: 'kms:Decrypt',
      Resource: '*',
    });
    const check = byId(runChecks(facts), 'transfer-key');
    expect(check.status).toBe('fail');
    expect(check.message).toContain('arn:aws:iam::999999999999:root');
  });

  it('fails a disabled transfer key, naming enable-key and delete-alias', () => {
    const facts = awsEbsSourceWithTransferKey();
    existingTransferKey(facts).metadata!.keyState = 'Disabled';
    const check = byId(runChecks(facts), 'transfer-key');
    expect(check.status).toBe('fail');
    expect(check.remedy?.commands?.join('\n')).toContain(`aws kms delete-alias --alias-name ${ALIAS}`);
  });

  it("fails the restore role when its IAM policy does not allow the transfer key (another account's key needs both)", () => {
    const facts = awsEbsSourceWithTransferKey();
    const onlyTargetKey = {
      Version: '2012-10-17',
      Statement: [{ Effect: 'Allow' as const, Action: 'kms:*', Resource: TARGET_KEY }],
    };
    facts.restoreRole = {
      roleArn: RESTORE_ROLE,
      principal: principal(RESTORE_SESSION, RESTORE_ROLE, [onlyTargetKey, allowAllEc2]),
    };
    expect(byId(runChecks(facts), 'transfer-key.access.restore-role').status).toBe('fail');
  });

  it('fails naming the actions when no statement of the worker role lets it create the key and its alias', () => {
    const facts = awsEbsSourceWithTransferKey();
    const noCreate = { Version: '2012-10-17', Statement: [ALL_BUT_CREATING_THE_KEY] };
    facts.worker.principal = principal(WORKER_SESSION, WORKER_ROLE, [noCreate, allowAllEc2]);
    const check = byId(runChecks(facts), 'transfer-key');
    expect(check.status).toBe('fail');
    expect(check.message).toContain('kms:CreateKey');
    expect(check.message).toContain('kms:CreateAlias');
  });

  it('warns when a statement lets the worker role create the key only under conditions', () => {
    const facts = awsEbsSourceWithTransferKey();
    const tagged = {
      Version: '2012-10-17',
      Statement: [
        ALL_BUT_CREATING_THE_KEY,
        {
          Effect: 'Allow' as const,
          Action: ['kms:CreateKey', 'kms:CreateAlias'],
          Resource: '*',
          Condition: { StringEquals: { 'aws:RequestTag/team': 'backup' } },
        },
      ],
    };
    facts.worker.principal = principal(WORKER_SESSION, WORKER_ROLE, [tagged, allowAllEc2]);
    const check = byId(runChecks(facts), 'transfer-key');
    expect(check.status).toBe('warn');
    expect(check.message).toContain('kms:CreateKey');
  });

  it('without transferKey the plan names the source default key as the shared key', () => {
    expect(planFromFacts(crossAccountFacts()).sharedKey).toEqual({
      kind: 'source-default',
      keyId: SOURCE_DEFAULT_KEY,
      alias: null,
      createdOnFirstUse: false,
    });
  });
});

describe('generated policies for the transfer key', () => {
  for (const dataPath of ['ebs-direct', 'worker-volume'] as const) {
    for (const kmsGrant of ['none', 'auto'] as const) {
      it(`${dataPath}, kmsGrant ${kmsGrant}: the generated IAM policies alone pass every check, before and after the key exists`, () => {
        for (const exists of [false, true]) {
          const generated = generatePolicies({
            mode: 'cross-account',
            region: REGION,
            dataPath,
            kmsGrant,
            workerRoleArn: WORKER_ROLE,
            restoreRoleArn: RESTORE_ROLE,
            targetKeyArn: TARGET_KEY,
            transferKey: true,
            ...(exists ? { transferKeyArn: TRANSFER_KEY } : {}),
          });
          const facts = awsEbsSourceWithTransferKey();
          facts.request.dataPath = dataPath;
          facts.request.kmsGrant = kmsGrant;
          if (exists) existingTransferKey(facts);
          facts.worker.principal = principal(WORKER_SESSION, WORKER_ROLE, [generated.workerRolePolicy]);
          facts.restoreRole = {
            roleArn: RESTORE_ROLE,
            principal: principal(RESTORE_SESSION, RESTORE_ROLE, [generated.restoreRolePolicy!]),
          };
          facts.targetKey.policy!.Statement = [
            ...(facts.targetKey.policy!.Statement as object[]),
            ...generated.targetKeyStatements,
          ] as typeof generated.targetKeyStatements;
          const notPassing = runChecks(facts).filter((c) => c.status !== 'pass');
          expect(notPassing, `key exists: ${exists}`).toEqual([]);
          // No statement for the source default key: the target gets nothing on it.
          expect(generated.sourceDefaultKeyStatements).toEqual([]);
          expect(JSON.stringify(generated.restoreRolePolicy)).not.toContain(SOURCE_DEFAULT_KEY);
          expect(generated.transferKeyPolicy).toEqual(
            transferKeyPolicy({ sourceAccountId: SOURCE, restoreRoleArn: RESTORE_ROLE }),
          );
        }
      });
    }
  }

  it('the transfer key policy names no principal of another account but the restore role', () => {
    const policy = transferKeyPolicy({ sourceAccountId: SOURCE, restoreRoleArn: RESTORE_ROLE });
    const principals = policy.Statement.flatMap((s) => Object.values(s.Principal as Record<string, string>));
    expect(new Set(principals)).toEqual(new Set([`arn:aws:iam::${SOURCE}:root`, RESTORE_ROLE]));
    expect(principals.filter((p) => p.includes(TARGET))).toEqual([RESTORE_ROLE, RESTORE_ROLE]);
  });
});
