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
} from '../pipeline/generated-world.ts';

/*
 * The generated policies are complete and nothing in them is spare: with exactly what the generator
 * writes, every pre-flight check passes; with any one generated action taken out (of every document
 * that grants it), the pre-flight fails and names that action. Pre-flight only (no restore runs
 * here; test/pipeline/generated-policies.test.ts runs the restores with the same policies).
 */

const restorePoint: RestorePointFacts = {
  instance: {
    instanceType: 't3.micro',
    architecture: 'x86_64',
    platform: 'linux',
    rootDeviceName: '/dev/xvda',
  },
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
];
const label = (s: GeneratedWorldShape) => `${s.mode} ${s.dataPath} kmsGrant ${s.kmsGrant}`;

const listOf = (value: string | string[] | undefined) => (value === undefined ? [] : [value].flat());
const statementsOf = (document: PolicyDocument | undefined): PolicyStatement[] =>
  document ? [document.Statement].flat() : [];

/** Every document the generator writes, by name. */
function documentsOf(policies: GeneratedPolicies): Record<string, PolicyStatement[]> {
  return {
    'worker role policy': statementsOf(policies.workerRolePolicy),
    'restore role policy': statementsOf(policies.restoreRolePolicy),
    'restore role trust policy': statementsOf(policies.restoreRoleTrustPolicy),
    'target key policy': policies.targetKeyStatements,
    'source default key policy': policies.sourceDefaultKeyStatements,
  };
}

/** `document: action` for every action the generator grants. */
function grantedActions(policies: GeneratedPolicies): string[] {
  const granted = new Set<string>();
  for (const [document, statements] of Object.entries(documentsOf(policies)))
    for (const statement of statements)
      for (const action of listOf(statement.Action)) granted.add(`${document}: ${action}`);
  return [...granted];
}

/** The same policies without `action` anywhere (a statement left with no action goes). */
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
  const restoreRoleTrustPolicy = document(policies.restoreRoleTrustPolicy);
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
  plan(world.request('rp-generated'), { sourceCredentials: world.workerCredentials(), restorePoint });

/*
 * Each (document, action) pair is taken out once, in the first shape that grants it: the six
 * shapes share most of their actions, and a pair proven needed in one shape is the same statement
 * in the others.
 */
const assigned = new Map<string, string[]>();
const seen = new Set<string>();
function assign(shape: GeneratedWorldShape, policies: GeneratedPolicies): string[] {
  const mine = new Set<string>();
  for (const pair of grantedActions(policies)) {
    if (seen.has(pair)) continue;
    seen.add(pair);
    mine.add(pair.slice(pair.indexOf(': ') + 2));
  }
  assigned.set(label(shape), [...mine].sort());
  return [...mine].sort();
}

const worlds: GeneratedWorld[] = [];
afterAll(() => {
  for (const world of worlds.splice(0)) world.destroy();
});

describe('generated policies, and nothing else, in the emulator with IAM enforcement', () => {
  for (const shape of SHAPES) {
    it(`${label(shape)}: every check passes; without any one generated action a check fails naming it`, {
      timeout: 300_000,
    }, async () => {
      const world = await generatedWorld(shape);
      worlds.push(world);
      const passing = await planOf(world);
      expect(notPassing(passing)).toEqual([]);
      expect(passing.mode).toBe(shape.mode);

      const actions = assign(shape, world.generated);
      const missed: string[] = [];
      for (const action of actions) {
        await world.apply(without(world.generated, action));
        const result = await planOf(world);
        const naming = result.checks.filter(
          (c) => c.status === 'fail' && JSON.stringify([c.message, c.remedy]).includes(action),
        );
        if (naming.length === 0)
          missed.push(
            `${action}: ${JSON.stringify(notPassing(result).map((c) => [c.id, c.status, c.message]))}`,
          );
      }
      await world.apply(world.generated);
      expect(missed).toEqual([]);
    });
  }
});
