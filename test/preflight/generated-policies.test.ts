import type { Check, PlanResult } from '@ec2-restore/contracts';
import {
  type GeneratedPolicies,
  type PolicyDocument,
  type PolicyStatement,
  plan,
  type RestorePointFacts,
} from '@ec2-restore/preflight';
import { afterAll, describe, expect, it } from 'vitest';
import {
  type GeneratedWorld,
  type GeneratedWorldShape,
  generatedWorld,
  RECORDED_LINUX,
} from '../pipeline/generated-world.ts';
import { INSTANCE } from '../support/index.ts';

/*
 * The generated policies are complete and nothing in them is spare: with exactly what the generator
 * writes, every pre-flight check passes; with any one generated action taken out (of every document
 * that grants it), the pre-flight fails and names that action. Pre-flight only (no restore runs
 * here; test/pipeline/generated-policies.test.ts runs the restores with the same policies).
 */

const restorePoint: RestorePointFacts = {
  instance: { ...INSTANCE, ...RECORDED_LINUX },
  volumes: [
    { deviceName: '/dev/xvda', sizeGiB: 8, volumeType: 'gp3' },
    { deviceName: '/dev/xvdf', sizeGiB: 4, volumeType: 'gp3' },
  ],
};

const SHAPES: GeneratedWorldShape[] = [
  { mode: 'same-account', dataPath: 'ebs-direct', kmsGrant: 'none' },
  { mode: 'same-account', dataPath: 'worker-volume', kmsGrant: 'none' },
  { mode: 'cross-account', dataPath: 'ebs-direct', kmsGrant: 'none' },
  { mode: 'cross-account', dataPath: 'worker-volume', kmsGrant: 'none' },
  { mode: 'cross-account', dataPath: 'ebs-direct', kmsGrant: 'auto' },
  { mode: 'cross-account', dataPath: 'worker-volume', kmsGrant: 'auto' },
  { mode: 'cross-account', dataPath: 'ebs-direct', kmsGrant: 'auto', transferKey: true },
  { mode: 'cross-account', dataPath: 'worker-volume', kmsGrant: 'none', transferKey: true },
  { mode: 'same-account', dataPath: 'ebs-direct', kmsGrant: 'none', launch: 'launch-and-swap' },
  { mode: 'cross-account', dataPath: 'ebs-direct', kmsGrant: 'auto', launch: 'launch-and-swap' },
  // The backup repository in S3: the worker role's s3:GetObject and s3:ListBucket (repository.access).
  { mode: 'same-account', dataPath: 'ebs-direct', kmsGrant: 'none', repository: 's3' },
];
const label = (s: GeneratedWorldShape) =>
  `${s.mode} ${s.dataPath} kmsGrant ${s.kmsGrant}${s.transferKey ? ' transferKey' : ''}${s.launch ? ` ${s.launch}` : ''}${s.repository ? ` ${s.repository} repository` : ''}`;

const listOf = (value: string | string[] | undefined) => (value === undefined ? [] : [value].flat());
const statementsOf = (document: PolicyDocument | undefined): PolicyStatement[] =>
  document ? [document.Statement].flat() : [];

/**
 * Every document the generator writes for a person to apply, by name. Not the transfer key's policy:
 * the product writes it itself when it creates the key (generated-policies.test.ts in test/pipeline
 * runs a restore that does).
 */
function documentsOf(policies: GeneratedPolicies): Record<string, PolicyStatement[]> {
  return {
    'worker role policy': statementsOf(policies.workerRolePolicy),
    'restore role policy': statementsOf(policies.restoreRolePolicy),
    'restore role trust policy': statementsOf(policies.restoreRoleTrustPolicy),
    'target key policy': policies.targetKeyStatements,
    'source default key policy': policies.sourceDefaultKeyStatements,
  };
}

/** `document: statement: action` for every action the generator grants. */
function grantedActions(policies: GeneratedPolicies): string[] {
  const granted = new Set<string>();
  for (const [document, statements] of Object.entries(documentsOf(policies)))
    for (const statement of statements)
      for (const action of listOf(statement.Action))
        granted.add(`${document}: ${statement.Sid ?? ''}: ${action}`);
  return [...granted];
}

/*
 * The pre-flight's own reads (statements `Preflight*`) are not calls of the steps: without
 * kms:GetKeyPolicy a key check warns that it could not verify the key (naming the action in its
 * remedy); the iam:Get* / iam:List* reads are not tested here, the emulator does not enforce IAM's
 * own API (packages/local-aws/README.md, "not emulated").
 */
const isPreflightRead = (pair: string) => pair.split(': ')[1]?.startsWith('Preflight') === true;
const notEnforcedByTheEmulator = (action: string) => action.startsWith('iam:');

/**
 * The same policies without `action` anywhere: a statement left with no action goes; a trust policy
 * left with no statement denies what it allowed (IAM refuses an empty one).
 */
function without(policies: GeneratedPolicies, action: string): GeneratedPolicies {
  const strip = (statements: PolicyStatement[]) =>
    statements.flatMap((statement) => {
      const actions = listOf(statement.Action);
      if (!actions.includes(action)) return [statement];
      const rest = actions.filter((a) => a !== action);
      return rest.length > 0 ? [{ ...statement, Action: rest }] : [];
    });
  const document = (d: PolicyDocument | undefined) =>
    d ? { ...d, Statement: strip(statementsOf(d)) } : undefined;
  const restoreRolePolicy = document(policies.restoreRolePolicy);
  const trust = policies.restoreRoleTrustPolicy;
  const stripped = document(trust);
  const restoreRoleTrustPolicy =
    trust && stripped && statementsOf(stripped).length === 0
      ? { ...trust, Statement: statementsOf(trust).map((st) => ({ ...st, Effect: 'Deny' as const })) }
      : stripped;
  return {
    workerRolePolicy: document(policies.workerRolePolicy) ?? { Statement: [] },
    ...(restoreRolePolicy ? { restoreRolePolicy } : {}),
    ...(restoreRoleTrustPolicy ? { restoreRoleTrustPolicy } : {}),
    targetKeyStatements: strip(policies.targetKeyStatements),
    sourceDefaultKeyStatements: strip(policies.sourceDefaultKeyStatements),
  };
}

const notPassing = (result: PlanResult): Check[] => result.checks.filter((c) => c.status !== 'pass');
const planOf = (world: GeneratedWorld) =>
  plan(world.request('rp-generated'), {
    sourceCredentials: world.workerCredentials(),
    restorePoint: { ...restorePoint, ...(world.s3Repository ? { repository: world.s3Repository } : {}) },
    // These plans check the policies, not the product's 10 s deadline, which the first plan of a fresh
    // world can pass on a CI bound by CPU. (Their outcome does not depend on the DryRun answers either:
    // the same 12 tests pass when a plan waits 1 ms for them.)
    deadlineMs: 60_000,
  });

/*
 * Each (document, statement, action) must be named by the pre-flight when it is taken out, in at
 * least one shape: most statements are the same in every shape, but some actions matter to one
 * launch strategy only (the generator grants every strategy's actions: the restore point decides the
 * strategy), e.g. ssm:GetParametersByPath to launch-and-swap, ec2:RegisterImage to register-image.
 * A pair is tried in each shape that grants it until one names it; the last test lists the pairs no
 * shape named. The action goes from every document of the shape, so nothing else grants it.
 */
const granted = new Set<string>();
const proven = new Set<string>();
const lastSeen = new Map<string, string>();

function toTry(policies: GeneratedPolicies): Array<{ action: string; pairs: string[] }> {
  const byAction = new Map<string, string[]>();
  for (const pair of grantedActions(policies)) {
    const action = pair.slice(pair.lastIndexOf(': ') + 2);
    if (notEnforcedByTheEmulator(action)) continue;
    granted.add(pair);
    if (proven.has(pair)) continue;
    byAction.set(action, [...(byAction.get(action) ?? []), pair]);
  }
  return [...byAction].sort().map(([action, pairs]) => ({ action, pairs }));
}

const worlds: GeneratedWorld[] = [];
afterAll(() => {
  for (const world of worlds.splice(0)) world.destroy();
});

describe('generated policies, and nothing else, in the emulator with IAM enforcement', () => {
  for (const shape of SHAPES) {
    it(`${label(shape)}: every check passes; each generated action taken out is named by a failing check`, {
      timeout: 300_000,
    }, async () => {
      const world = await generatedWorld(shape);
      worlds.push(world);
      const passing = await planOf(world);
      expect(notPassing(passing)).toEqual([]);
      expect(passing.mode).toBe(shape.mode);

      for (const { action, pairs } of toTry(world.generated)) {
        await world.apply(without(world.generated, action));
        const result = await planOf(world);
        // A step's action fails the plan; a read of the pre-flight's own at least warns.
        const preflightRead = pairs.every(isPreflightRead);
        const naming = result.checks.filter(
          (c) =>
            (c.status === 'fail' || (preflightRead && c.status === 'warn')) &&
            JSON.stringify([c.message, c.remedy]).includes(action),
        );
        for (const pair of pairs) {
          if (naming.length > 0) proven.add(pair);
          else
            lastSeen.set(
              pair,
              `${label(shape)}: ${JSON.stringify(notPassing(result).map((c) => [c.id, c.status, c.message]))}`,
            );
        }
      }
      await world.apply(world.generated);
    });
  }

  it('every action of every generated document was named by a failing check in some shape', () => {
    const missed = [...granted]
      .filter((pair) => !proven.has(pair))
      .map((pair) => `${pair}: ${lastSeen.get(pair)}`);
    expect(granted.size).toBeGreaterThan(0);
    expect(missed).toEqual([]);
  });
});
