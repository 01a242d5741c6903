import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { DataPath, KmsGrantMode, RestoreMode } from '@ec2-restore/contracts';
import { describe, expect, it } from 'vitest';
import { dryRunnableActions } from './gather-permissions.ts';
import { evaluateIdentityPolicies, statementsOf } from './policy-evaluator.ts';
import { type GeneratedPolicies, generatePolicies } from './policy-generator.ts';
import type { PolicyDocument } from './policy-types.ts';
import { stepActions } from './step-actions.ts';

/*
 * The audit: every AWS SDK command the restore's code sends, read from its source, is granted by
 * the generated policies to the principal that sends it. A new call without its permission fails
 * here, before it fails a restore on AWS.
 */

const REPO = fileURLToPath(new URL('../../..', import.meta.url));

type Who = 'worker' | 'restore';
/** The files that call AWS during a restore, and as whom. */
const callers: Array<[file: string, who: Who[]]> = [
  ['packages/pipeline/src/steps/snapshot.ts', ['worker']],
  ['packages/pipeline/src/steps/snapshot-worker-volume.ts', ['worker']],
  ['packages/pipeline/src/aws/wait-for-snapshot.ts', ['worker']],
  ['packages/pipeline/src/steps/share.ts', ['worker']],
  ['packages/pipeline/src/steps/instance.ts', ['restore']],
  ['packages/pipeline/src/steps/cleanup.ts', ['worker', 'restore']],
  ['packages/pipeline/src/aws/ensure-volume.ts', ['worker', 'restore']],
  ['packages/pipeline/src/aws/launch-image.ts', ['restore']],
  ['packages/pipeline/src/aws/instance-state.ts', ['restore']],
  ['packages/pipeline/src/steps/launch-and-swap.ts', ['restore']],
  ['packages/pipeline/src/steps/register-image.ts', ['restore']],
  ['packages/aws-resources/src/remove-image.ts', ['restore']],
  ['packages/pipeline/src/aws/source-default-key.ts', ['worker']],
  ['packages/pipeline/src/aws/transfer-key.ts', ['worker']],
  ['packages/snapshot-writers/src/ebs-direct-writer.ts', ['worker']],
  ['packages/snapshot-writers/src/verify-snapshot.ts', ['worker']],
  ['packages/aws-resources/src/tagged-resources.ts', ['worker', 'restore']],
  ['packages/aws-resources/src/remove-snapshot.ts', ['worker', 'restore']],
  ['packages/aws-resources/src/remove-volumes.ts', ['worker', 'restore']],
  ['packages/aws-resources/src/kms-grants.ts', ['worker']],
  ['packages/preflight/src/gather-principal-facts.ts', ['worker', 'restore']],
  ['packages/preflight/src/gather-key-facts.ts', ['worker', 'restore']],
  ['packages/preflight/src/gather-target-facts.ts', ['worker', 'restore']],
  ['packages/preflight/src/gather-permissions.ts', ['worker', 'restore']],
];

const services: Record<string, string> = {
  'client-ec2': 'ec2',
  'client-ebs': 'ebs',
  'client-kms': 'kms',
  'client-sts': 'sts',
  'client-iam': 'iam',
  'client-ssm': 'ssm',
};

/**
 * `ec2:DescribeImages` for each `new DescribeImagesCommand(` (or `paginateDescribeImages(`, the SDK's
 * paginator) of a file, by the package it is imported from.
 */
function sdkActionsIn(file: string): string[] {
  const source = readFileSync(`${REPO}/${file}`, 'utf8');
  const serviceOf = new Map<string, string>();
  for (const match of source.matchAll(/import\s*\{([^}]*)\}\s*from\s*'@aws-sdk\/(client-[a-z0-9]+)'/g)) {
    const service = services[match[2]!];
    if (!service) continue;
    for (const name of match[1]!.split(',')) {
      const command = name.replace(/^\s*type\s+/, '').trim();
      if (command.endsWith('Command') || command.startsWith('paginate')) serviceOf.set(command, service);
    }
  }
  const actions = new Set<string>();
  for (const match of source.matchAll(
    /(?:new\s+([A-Z][A-Za-z0-9]*Command)|\b(paginate[A-Z][A-Za-z0-9]*))\(/g,
  )) {
    const name = match[1] ?? match[2]!;
    const service = serviceOf.get(name);
    if (service) actions.add(`${service}:${name.replace(/Command$/, '').replace(/^paginate/, '')}`);
  }
  return [...actions].sort();
}

// "No permissions are required to perform this operation."
// https://docs.aws.amazon.com/STS/latest/APIReference/API_GetCallerIdentity.html
const NEEDS_NO_PERMISSION = new Set(['sts:GetCallerIdentity']);

interface Config {
  mode: RestoreMode;
  dataPath: DataPath;
  kmsGrant: KmsGrantMode;
  transferKey?: boolean;
}
const configs: Config[] = [];
for (const mode of ['same-account', 'cross-account'] as const)
  for (const dataPath of ['ebs-direct', 'worker-volume'] as const)
    for (const kmsGrant of ['none', 'auto'] as const) {
      if (mode === 'cross-account' || kmsGrant === 'none') configs.push({ mode, dataPath, kmsGrant });
      if (mode === 'cross-account') configs.push({ mode, dataPath, kmsGrant, transferKey: true });
    }

const ROLE = (account: string, name: string) => `arn:aws:iam::${account}:role/${name}`;
function policiesFor(config: Config): GeneratedPolicies {
  const cross = config.mode === 'cross-account';
  return generatePolicies({
    ...config,
    verify: true,
    region: 'eu-west-1',
    workerRoleArn: ROLE('111111111111', 'Worker'),
    restoreRoleArn: ROLE(cross ? '222222222222' : '111111111111', 'Restore'),
    targetKeyArn: `arn:aws:kms:eu-west-1:${cross ? '222222222222' : '111111111111'}:key/t`,
    ...(cross ? { sourceDefaultKeyArn: 'arn:aws:kms:eu-west-1:111111111111:key/s' } : {}),
  });
}

/** Does any statement allow the action at all (any resource, any condition)? */
function allowsAction(policy: PolicyDocument | undefined, action: string): boolean {
  if (!policy) return false;
  const loose = {
    Statement: statementsOf(policy).map(({ Resource: _r, NotResource: _n, Condition: _c, ...rest }) => ({
      ...rest,
      Resource: '*',
    })),
  };
  const caller = { arn: 'arn:aws:sts::111111111111:assumed-role/Worker/s' };
  return evaluateIdentityPolicies([loose], { caller, action, resource: '*' }).allow.length > 0;
}

describe('generated policies cover every AWS call of the restore', () => {
  it.each(callers)('%s', (file, who) => {
    const actions = sdkActionsIn(file).filter((a) => !NEEDS_NO_PERMISSION.has(a));
    expect(actions.length, `${file} sends AWS commands`).toBeGreaterThan(0);
    const missing = actions.filter(
      (action) =>
        !configs.some((config) => {
          const policies = policiesFor(config);
          return who.some((w) =>
            allowsAction(w === 'worker' ? policies.workerRolePolicy : policies.restoreRolePolicy, action),
          );
        }),
    );
    expect(missing, `not granted to the ${who.join(' or ')} role by any generated policy`).toEqual([]);
  });

  it('the instance step and its cleanup are granted to the restore role in every configuration', () => {
    for (const config of configs) {
      const restore = policiesFor(config).restoreRolePolicy;
      for (const action of [
        'ec2:DescribeImages',
        'ec2:RunInstances',
        'ec2:DetachVolume',
        'ec2:DeleteVolume',
        'ec2:TerminateInstances',
        'ec2:DescribeAvailabilityZones',
      ]) {
        expect(allowsAction(restore, action), `${action} in ${JSON.stringify(config)}`).toBe(true);
      }
    }
  });

  it("only a launch-and-swap restore (or one not known: the policy generator) needs AWS's public SSM parameters", () => {
    const needsSsm = (launch: 'register-image' | 'launch-and-swap' | null | undefined) =>
      stepActions({
        mode: 'cross-account',
        dataPath: 'ebs-direct',
        kmsGrant: 'none',
        hasRestoreRole: true,
        ...(launch !== undefined ? { launch } : {}),
      }).some((a) => a.principal === 'restore-role' && a.action === 'ssm:GetParametersByPath');
    expect(needsSsm('launch-and-swap')).toBe(true);
    expect(needsSsm(undefined)).toBe(true);
    expect(needsSsm('register-image')).toBe(false);
    expect(needsSsm(null)).toBe(false);
  });

  it('every EC2 action of the steps can be tried with DryRun by the pre-flight', () => {
    const ec2 = new Set<string>();
    for (const config of configs)
      for (const a of stepActions({ ...config, hasRestoreRole: true })) if (a.dryRun) ec2.add(a.action);
    expect([...ec2].filter((a) => !dryRunnableActions().includes(a))).toEqual([]);
  });
});

describe('stepActions order', () => {
  it('is the order localeCompare gives (the policy generator writes the actions in it)', () => {
    for (const config of configs)
      for (const hasRestoreRole of [true, false])
        for (const verify of [true, false])
          for (const launch of ['register-image', 'launch-and-swap', null, undefined] as const) {
            const actions = stepActions({
              ...config,
              hasRestoreRole,
              verify,
              ...(launch !== undefined ? { launch } : {}),
            });
            const byLocale = [...actions].sort(
              (a, b) => a.principal.localeCompare(b.principal) || a.action.localeCompare(b.action),
            );
            expect(actions).toEqual(byLocale);
          }
  });
});
