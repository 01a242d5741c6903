import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decideKeyAccess, type KeyAccessInput } from './policy-evaluator.ts';
import type { PolicyDocument, PolicyStatement } from './policy-types.ts';
import { matchesArnPattern, matchesWildcard } from './wildcard.ts';

/** The obvious (regex) definition of IAM wildcards, to compare the matcher with. */
function referenceMatch(pattern: string, value: string): boolean {
  const source = pattern
    .split('')
    .map((c) => (c === '*' ? '.*' : c === '?' ? '.' : c.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')))
    .join('');
  return new RegExp(`^${source}$`, 's').test(value);
}

const alphabet = fc.constantFrom('a', 'b', 'c', ':', '/', '-', '.');
const word = fc.string({ unit: alphabet, maxLength: 12 });
const pattern = fc.string({
  unit: fc.constantFrom('a', 'b', 'c', ':', '/', '-', '.', '*', '?'),
  maxLength: 10,
});

describe('matchesWildcard (property tests)', () => {
  it('agrees with the regex definition', () => {
    fc.assert(
      fc.property(pattern, word, (p, v) => matchesWildcard(p, v) === referenceMatch(p, v)),
      { numRuns: 5000 },
    );
  });

  it('a literal pattern matches exactly itself', () => {
    fc.assert(fc.property(word, word, (a, b) => matchesWildcard(a, b) === (a === b)));
  });

  it('"*" matches everything and prefix* matches every extension', () => {
    fc.assert(
      fc.property(
        word,
        word,
        (prefix, rest) => matchesWildcard('*', rest) && matchesWildcard(`${prefix}*`, prefix + rest),
      ),
    );
  });

  it('"?" in place of any character still matches', () => {
    fc.assert(
      fc.property(
        word.filter((w) => w.length > 0),
        fc.nat(),
        (value, n) => {
          const i = n % value.length;
          return matchesWildcard(value.slice(0, i) + '?' + value.slice(i + 1), value);
        },
      ),
    );
  });

  it('ignoreCase compares action names case-insensitively', () => {
    fc.assert(fc.property(word, (w) => matchesWildcard(w.toUpperCase(), w, { ignoreCase: true })));
  });

  it('ARN wildcards do not cross the colons between ARN parts', () => {
    expect(
      matchesArnPattern('arn:aws:kms:*:111122223333:key/*', 'arn:aws:kms:eu-west-1:111122223333:key/abc'),
    ).toBe(true);
    expect(matchesArnPattern('arn:aws:kms:*:key/*', 'arn:aws:kms:eu-west-1:111122223333:key/abc')).toBe(
      false,
    );
    expect(
      matchesArnPattern('arn:aws:iam::*:role/Restore*', 'arn:aws:iam::222222222222:role/RestoreRole'),
    ).toBe(true);
  });
});

const A = '111122223333';
const B = '444455556666';
const KEY = `arn:aws:kms:eu-west-1:${A}:key/1234abcd-12ab-34cd-56ef-1234567890ab`;
const principals = [
  `arn:aws:iam::${A}:root`,
  A,
  `arn:aws:iam::${A}:role/R1`,
  `arn:aws:iam::${B}:root`,
  `arn:aws:iam::${B}:role/R2`,
  '*',
];
const actions = [
  'kms:*',
  'kms:Decrypt',
  'kms:ReEncrypt*',
  'kms:Describe*',
  'kms:CreateGrant',
  'kms:?ncrypt',
  '*',
];
const conditions: (PolicyStatement['Condition'] | undefined)[] = [
  undefined,
  { StringEquals: { 'kms:CallerAccount': A } },
  { StringLike: { 'kms:ViaService': 'ec2.*.amazonaws.com' } },
  { Bool: { 'kms:GrantIsForAWSResource': 'true' } },
  { ArnLike: { 'aws:PrincipalArn': `arn:aws:iam::${B}:role/*` } },
  { StringNotEquals: { 'aws:PrincipalAccount': A } },
];

const statement = (effect: 'Allow' | 'Deny'): fc.Arbitrary<PolicyStatement> =>
  fc
    .record({
      principal: fc.subarray(principals, { minLength: 1, maxLength: 3 }),
      action: fc.subarray(actions, { minLength: 1, maxLength: 3 }),
      notAction: fc.boolean(),
      condition: fc.constantFrom(...conditions),
    })
    .map(({ principal, action, notAction, condition }) => ({
      Effect: effect,
      Principal: principal.includes('*') ? '*' : { AWS: principal },
      ...(notAction ? { NotAction: action } : { Action: action }),
      Resource: '*',
      ...(condition ? { Condition: condition } : {}),
    }));

const request = fc.record({
  caller: fc.constantFrom(
    `arn:aws:sts::${A}:assumed-role/R1/s`,
    `arn:aws:sts::${B}:assumed-role/R2/s`,
    `arn:aws:iam::${A}:root`,
    `arn:aws:sts::${A}:assumed-role/R3/s`,
  ),
  action: fc.constantFrom(
    'kms:Decrypt',
    'kms:Encrypt',
    'kms:ReEncryptFrom',
    'kms:DescribeKey',
    'kms:CreateGrant',
  ),
  via: fc.boolean(),
  iam: fc.constantFrom<PolicyDocument[] | undefined>(
    undefined,
    [],
    [{ Statement: [{ Effect: 'Allow', Action: 'kms:*', Resource: '*' }] }],
  ),
});

describe('decideKeyAccess (property tests)', () => {
  it('adding a Deny statement never turns a deny into an allow, nor anything into a new allow', () => {
    fc.assert(
      fc.property(
        fc.array(statement('Allow'), { maxLength: 4 }),
        statement('Deny'),
        request,
        (allows, deny, r) => {
          const input: Omit<KeyAccessInput, 'keyPolicy'> = {
            keyArn: KEY,
            caller: { arn: r.caller },
            action: r.action,
            context: r.via
              ? { 'kms:ViaService': 'ec2.eu-west-1.amazonaws.com', 'kms:GrantIsForAWSResource': 'true' }
              : {},
            ...(r.iam ? { identityPolicies: r.iam } : {}),
          };
          const before = decideKeyAccess({ ...input, keyPolicy: { Statement: allows } });
          const after = decideKeyAccess({ ...input, keyPolicy: { Statement: [...allows, deny] } });
          if (after.decision === 'allow') return before.decision === 'allow';
          return true;
        },
      ),
      { numRuns: 3000 },
    );
  });

  it('a Deny that matches everything always wins', () => {
    fc.assert(
      fc.property(fc.array(statement('Allow'), { maxLength: 4 }), request, (allows, r) => {
        const decision = decideKeyAccess({
          keyArn: KEY,
          keyPolicy: {
            Statement: [...allows, { Effect: 'Deny', Principal: '*', Action: 'kms:*', Resource: '*' }],
          },
          caller: { arn: r.caller },
          action: r.action,
          ...(r.iam ? { identityPolicies: r.iam } : {}),
        });
        return decision.decision === 'deny' && decision.basis === 'explicit-deny-in-key-policy';
      }),
    );
  });
});
