import { describe, expect, it } from 'vitest';
import { keyPolicyPrincipalsBeyond, transferKeyAliasFor, transferKeyPolicy } from './transfer-key.ts';

const ROLE = 'arn:aws:iam::222222222222:role/Restore';

describe('transferKeyAliasFor', () => {
  it('is a valid KMS alias name, one per role (path and name)', () => {
    const aliases = [
      ROLE,
      'arn:aws:iam::222222222222:role/ops/Restore',
      'arn:aws:iam::222222222222:role/Re+store',
      'arn:aws:iam::333333333333:role/Restore',
    ].map(transferKeyAliasFor);
    for (const alias of aliases)
      expect(alias).toMatch(/^alias\/ec2-restore-transfer\/\d{12}\/[A-Za-z0-9/_-]+$/);
    expect(new Set(aliases).size).toBe(aliases.length);
    expect(transferKeyAliasFor(ROLE)).toBe(transferKeyAliasFor(ROLE));
  });
});

describe('keyPolicyPrincipalsBeyond', () => {
  it('finds nothing in the policy the product writes', () => {
    const policy = transferKeyPolicy({ sourceAccountId: '111111111111', restoreRoleArn: ROLE });
    expect(keyPolicyPrincipalsBeyond(policy, '111111111111', ROLE)).toEqual([]);
  });

  it('finds another account, another role of the target, and an unconditioned "*"', () => {
    const policy = {
      Statement: [
        { Effect: 'Allow', Principal: { AWS: ['arn:aws:iam::999999999999:root', ROLE] }, Action: 'kms:*' },
        {
          Effect: 'Allow',
          Principal: { AWS: 'arn:aws:iam::222222222222:role/Other' },
          Action: 'kms:Decrypt',
        },
        { Effect: 'Allow', Principal: '*', Action: 'kms:Decrypt' },
        {
          Effect: 'Allow',
          Principal: { AWS: '*' },
          Action: 'kms:Decrypt',
          Condition: { StringEquals: { 'kms:CallerAccount': '111111111111' } },
        },
        { Effect: 'Deny', Principal: { AWS: 'arn:aws:iam::888888888888:root' }, Action: 'kms:*' },
      ],
    };
    expect(keyPolicyPrincipalsBeyond(policy, '111111111111', ROLE)).toEqual([
      'arn:aws:iam::999999999999:root',
      'arn:aws:iam::222222222222:role/Other',
      '*',
    ]);
  });
});
