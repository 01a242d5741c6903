import type { DataPath, KmsGrantMode, RestoreMode } from '@ec2-restore/contracts';
import { describe, expect, it } from 'vitest';
import { runChecks } from './checks.ts';
import type { KeyFacts, PreflightFacts } from './facts.ts';
import { evaluateResourcePolicy } from './policy-evaluator.ts';
import { generatePolicies, type PolicyConfiguration } from './policy-generator.ts';
import type { PolicyStatement } from './policy-types.ts';
import {
  crossAccountFacts,
  keyFacts,
  principal,
  REGION,
  RESTORE_ROLE,
  RESTORE_SESSION,
  SAME_ACCOUNT_KEY,
  SOURCE,
  SOURCE_DEFAULT_KEY,
  sameAccountFacts,
  TARGET_KEY,
  WORKER_ROLE,
  WORKER_SESSION,
} from './test-facts.ts';

const SAME_RESTORE_ROLE = `arn:aws:iam::${SOURCE}:role/Restore`;
const SAME_RESTORE_SESSION = `arn:aws:sts::${SOURCE}:assumed-role/Restore/ec2-restore`;

interface Config {
  mode: RestoreMode;
  dataPath: DataPath;
  kmsGrant: KmsGrantMode;
  restoreRole: boolean;
}

const configs: Config[] = [];
for (const dataPath of ['ebs-direct', 'worker-volume'] as const) {
  for (const restoreRole of [false, true])
    configs.push({ mode: 'same-account', dataPath, kmsGrant: 'none', restoreRole });
  for (const kmsGrant of ['none', 'auto'] as const)
    configs.push({ mode: 'cross-account', dataPath, kmsGrant, restoreRole: true });
}

/**
 * Facts whose key policies hold only the root statement plus the generated statements, and whose
 * roles hold only the generated IAM policies: nothing else grants anything.
 */
function factsFromGeneratedPolicies(config: Config, keyRootStatement = true): PreflightFacts {
  const cross = config.mode === 'cross-account';
  const targetKeyArn = cross ? TARGET_KEY : SAME_ACCOUNT_KEY;
  const restoreRoleArn = cross ? RESTORE_ROLE : SAME_RESTORE_ROLE;
  const policies = generatePolicies({
    mode: config.mode,
    region: REGION,
    dataPath: config.dataPath,
    kmsGrant: config.kmsGrant,
    workerRoleArn: WORKER_ROLE,
    ...(config.restoreRole ? { restoreRoleArn } : {}),
    targetKeyArn,
    ...(cross ? { sourceDefaultKeyArn: SOURCE_DEFAULT_KEY } : {}),
  });
  const request = {
    dataPath: config.dataPath,
    kmsGrant: config.kmsGrant,
    target: {
      accountId: cross ? '222222222222' : SOURCE,
      region: REGION,
      kmsKeyId: targetKeyArn,
      ...(config.restoreRole ? { roleArn: restoreRoleArn } : {}),
    },
  };
  const facts = cross ? crossAccountFacts(request) : sameAccountFacts(request);
  facts.worker.principal = principal(WORKER_SESSION, WORKER_ROLE, [policies.workerRolePolicy]);
  facts.targetKey = withoutRoot(keyFacts(targetKeyArn, policies.targetKeyStatements), keyRootStatement);
  if (config.restoreRole) {
    expect(policies.restoreRolePolicy).toBeDefined();
    facts.restoreRole = {
      roleArn: restoreRoleArn,
      principal: principal(cross ? RESTORE_SESSION : SAME_RESTORE_SESSION, restoreRoleArn, [
        policies.restoreRolePolicy!,
      ]),
    };
  }
  if (cross) {
    facts.sourceDefaultKey!.key = withoutRoot(
      keyFacts(SOURCE_DEFAULT_KEY, policies.sourceDefaultKeyStatements),
      keyRootStatement,
    );
  }
  return facts;
}

/** Drops the account root statement, so only the generated statements can allow anything. */
function withoutRoot(key: KeyFacts, keep: boolean): KeyFacts {
  if (keep) return key;
  return { ...key, policy: { Statement: (key.policy!.Statement as PolicyStatement[]).slice(1) } };
}

/** The policies of an EBS direct restore into another account, kmsGrant none unless `overrides` say otherwise. */
function crossAccountPolicies(overrides: Partial<PolicyConfiguration> = {}) {
  return generatePolicies({
    mode: 'cross-account',
    region: REGION,
    dataPath: 'ebs-direct',
    kmsGrant: 'none',
    workerRoleArn: WORKER_ROLE,
    restoreRoleArn: RESTORE_ROLE,
    targetKeyArn: TARGET_KEY,
    sourceDefaultKeyArn: SOURCE_DEFAULT_KEY,
    ...overrides,
  });
}

describe('generatePolicies round trip', () => {
  it.each(configs)(
    '$mode, $dataPath, kmsGrant $kmsGrant, restore role $restoreRole: every check passes',
    (config) => {
      for (const keyRootStatement of [true, false]) {
        const checks = runChecks(factsFromGeneratedPolicies(config, keyRootStatement));
        expect(checks.filter((c) => c.status !== 'pass')).toEqual([]);
        expect(checks.filter((c) => c.id.includes('.access.')).length).toBeGreaterThan(0);
      }
    },
  );

  it.each(configs)(
    '$mode, $dataPath, kmsGrant $kmsGrant: removing any generated key statement breaks a check',
    (config) => {
      const facts = factsFromGeneratedPolicies(config, false);
      const keys = [facts.targetKey, ...(facts.sourceDefaultKey?.key ? [facts.sourceDefaultKey.key] : [])];
      for (const key of keys) {
        const statements = key.policy!.Statement as PolicyStatement[];
        for (let i = 0; i < statements.length; i++) {
          const original = key.policy;
          key.policy = { Statement: statements.filter((_, j) => j !== i) };
          const notPassing = runChecks(facts).filter((c) => c.status !== 'pass');
          key.policy = original;
          expect(notPassing.length, `without ${statements[i]?.Sid}`).toBeGreaterThan(0);
        }
      }
    },
  );

  it.each(configs)(
    '$mode, $dataPath, kmsGrant $kmsGrant, restore role $restoreRole: removing any generated EC2/EBS action fails pre-flight naming it',
    (config) => {
      const facts = factsFromGeneratedPolicies(config, false);
      const holders = [
        facts.worker.principal!,
        ...(facts.restoreRole?.principal ? [facts.restoreRole.principal] : []),
      ];
      let removed = 0;
      for (const holder of holders) {
        const policy = holder.identityPolicies![0]!;
        const statements = policy.Statement as PolicyStatement[];
        const ec2 = statements.find((s) => s.Sid === 'RestoreEc2' || s.Sid === 'RestoreInstance')!;
        const actions = ec2.Action as string[];
        // EC2/EBS only: ssm:GetParametersByPath is needed by launch-and-swap restores alone (the
        // restore point here registers an image), see step-actions.test.ts.
        for (const action of actions.filter((a) => /^(ec2|ebs):/.test(a))) {
          const original = ec2.Action;
          ec2.Action = actions.filter((a) => a !== action);
          const failing = runChecks(facts).filter((c) => c.status === 'fail');
          ec2.Action = original;
          expect(
            failing.map((c) => c.id),
            `without ${action}`,
          ).toEqual([
            holder === facts.worker.principal ? 'permissions.worker-role' : 'permissions.restore-role',
          ]);
          expect(failing[0]!.message).toContain(action);
          expect(failing[0]!.remedy?.policy?.statements[0]?.Action).toEqual([action]);
          removed++;
        }
      }
      expect(removed).toBeGreaterThan(10);
    },
  );

  it('the trust policy lets the worker role assume the restore role only with the ExternalId', () => {
    const { restoreRoleTrustPolicy } = crossAccountPolicies({ externalId: 'ext-42' });
    const assume = (externalId?: string) =>
      evaluateResourcePolicy(restoreRoleTrustPolicy!, {
        caller: { arn: WORKER_SESSION, roleArn: WORKER_ROLE },
        action: 'sts:AssumeRole',
        resource: RESTORE_ROLE,
        context: externalId ? { 'sts:ExternalId': externalId } : {},
      }).allowDirect.length > 0;
    expect(assume('ext-42')).toBe(true);
    expect(assume('other')).toBe(false);
    expect(assume()).toBe(false);
  });

  it('grants CreateGrant for AWS resources only; the grant of kmsGrant auto only to the restore role with its operations', () => {
    const none = crossAccountPolicies();
    const createGrants = [...none.targetKeyStatements, ...none.sourceDefaultKeyStatements].filter((s) =>
      ([] as string[]).concat(s.Action ?? []).includes('kms:CreateGrant'),
    );
    expect(createGrants.length).toBeGreaterThan(0);
    for (const statement of createGrants)
      expect(statement.Condition).toEqual({ Bool: { 'kms:GrantIsForAWSResource': 'true' } });
    const auto = crossAccountPolicies({ kmsGrant: 'auto' });
    const grantCondition = {
      StringEquals: { 'kms:GranteePrincipal': RESTORE_ROLE },
      'ForAllValues:StringEquals': {
        'kms:GrantOperations': ['CreateGrant', 'Decrypt', 'DescribeKey', 'ReEncryptFrom'],
      },
    };
    // In the key policy and in the worker role's IAM policy: no CreateGrant without limits.
    for (const statements of [
      auto.sourceDefaultKeyStatements,
      auto.workerRolePolicy.Statement as PolicyStatement[],
    ]) {
      const plainGrants = statements.filter(
        (s) =>
          ([] as string[]).concat(s.Action ?? []).includes('kms:CreateGrant') && s.Condition === undefined,
      );
      expect(plainGrants).toEqual([]);
      expect(statements.some((s) => JSON.stringify(s.Condition) === JSON.stringify(grantCondition))).toBe(
        true,
      );
    }
    expect(
      auto.sourceDefaultKeyStatements.some((s) => JSON.stringify(s.Principal).includes(RESTORE_ROLE)),
    ).toBe(false);
  });
});

describe('generatePolicies: verified restores', () => {
  const workerActions = (verify: boolean | undefined, dataPath: 'ebs-direct' | 'worker-volume') => {
    const { workerRolePolicy } = generatePolicies({
      mode: 'same-account',
      region: REGION,
      dataPath,
      kmsGrant: 'none',
      ...(verify === undefined ? {} : { verify }),
      workerRoleArn: WORKER_ROLE,
      targetKeyArn: SAME_ACCOUNT_KEY,
    });
    return [workerRolePolicy.Statement].flat().flatMap((s) => ([] as string[]).concat(s.Action ?? []));
  };

  it('lets the worker read snapshots back with the EBS direct APIs only when it verifies them', () => {
    const reads = ['ebs:GetSnapshotBlock', 'ebs:ListSnapshotBlocks'];
    expect(workerActions(true, 'ebs-direct')).toEqual(expect.arrayContaining(reads));
    for (const action of reads) {
      expect(workerActions(undefined, 'ebs-direct')).not.toContain(action);
      // worker-volume reads the attached device back: no AWS call.
      expect(workerActions(true, 'worker-volume')).not.toContain(action);
    }
  });
});
