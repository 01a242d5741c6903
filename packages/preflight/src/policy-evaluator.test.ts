import { describe, expect, it } from 'vitest';
import { type AccessDecision, decideKeyAccess, type KeyAccessInput } from './policy-evaluator.ts';
import type { KmsGrant, PolicyDocument, PolicyStatement, RequestContext } from './policy-types.ts';
import { awsManagedEbsKeyPolicy } from './test-facts.ts';

/*
 * Table-driven cases from AWS's documented key policies:
 * - default key policy: https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-default.html
 * - other accounts: https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-modifying-external-accounts.html
 * - condition keys: https://docs.aws.amazon.com/kms/latest/developerguide/conditions-kms.html
 * - evaluation logic: https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html
 */

const A = '111122223333';
const B = '444455556666';
const C = '777788889999';
const KEY = `arn:aws:kms:us-east-2:${A}:key/1234abcd-12ab-34cd-56ef-1234567890ab`;
const OTHER_KEY = `arn:aws:kms:us-east-2:${A}:key/0987dcba-09fe-87dc-65ba-ab0987654321`;
const ROLE_A = `arn:aws:iam::${A}:role/ExampleUserRole`;
const SESSION_A = `arn:aws:sts::${A}:assumed-role/ExampleUserRole/session-1`;
const OTHER_SESSION_A = `arn:aws:sts::${A}:assumed-role/OtherRole/session-1`;
const ADMIN_SESSION_A = `arn:aws:sts::${A}:assumed-role/KMSAdminRole/admin`;
const USER_A = `arn:aws:iam::${A}:user/ExampleUser`;
const ROOT_A = `arn:aws:iam::${A}:root`;
const ROLE_B = `arn:aws:iam::${B}:role/RestoreRole`;
const SESSION_B = `arn:aws:sts::${B}:assumed-role/RestoreRole/restore-1`;
const ROOT_B = `arn:aws:iam::${B}:root`;
const SESSION_C = `arn:aws:sts::${C}:assumed-role/RestoreRole/x`;
const VIA_EC2 = { 'kms:ViaService': 'ec2.us-east-2.amazonaws.com' };

const policy = (...statements: PolicyStatement[]): PolicyDocument => ({
  Version: '2012-10-17',
  Statement: statements,
});
const rootDelegation: PolicyStatement = {
  Sid: 'Enable IAM User Permissions',
  Effect: 'Allow',
  Principal: { AWS: ROOT_A },
  Action: 'kms:*',
  Resource: '*',
};
const defaultKeyPolicy = policy(rootDelegation);
const useActions = [
  'kms:Encrypt',
  'kms:Decrypt',
  'kms:ReEncrypt*',
  'kms:GenerateDataKey*',
  'kms:DescribeKey',
];
const keyUsers = (principal: string | string[]): PolicyStatement[] => [
  {
    Sid: 'Allow use of the key',
    Effect: 'Allow',
    Principal: { AWS: principal },
    Action: useActions,
    Resource: '*',
  },
  {
    Sid: 'Allow attachment of persistent resources',
    Effect: 'Allow',
    Principal: { AWS: principal },
    Action: ['kms:CreateGrant', 'kms:ListGrants', 'kms:RevokeGrant'],
    Resource: '*',
    Condition: { Bool: { 'kms:GrantIsForAWSResource': 'true' } },
  },
];
const keyAdmins: PolicyStatement = {
  Sid: 'Allow access for Key Administrators',
  Effect: 'Allow',
  Principal: { AWS: `arn:aws:iam::${A}:role/KMSAdminRole` },
  Action: [
    'kms:Create*',
    'kms:Describe*',
    'kms:Enable*',
    'kms:List*',
    'kms:Put*',
    'kms:Update*',
    'kms:Revoke*',
    'kms:Disable*',
    'kms:Get*',
    'kms:Delete*',
    'kms:TagResource',
    'kms:UntagResource',
    'kms:ScheduleKeyDeletion',
    'kms:CancelKeyDeletion',
  ],
  Resource: '*',
};
/** The key policy of an AWS managed key such as aws/ebs. */
const awsEbsKeyPolicy = awsManagedEbsKeyPolicy(A, 'us-east-2');
const iamAllowAll = policy({ Effect: 'Allow', Action: 'kms:*', Resource: '*' });
const iamAllowKey = (actions: string | string[], resource = KEY) =>
  policy({ Effect: 'Allow', Action: actions, Resource: resource });

interface Case {
  name: string;
  keyPolicy: PolicyDocument;
  caller: string;
  roleArn?: string;
  action: string;
  context?: RequestContext;
  identityPolicies?: PolicyDocument[];
  grants?: KmsGrant[];
  keyArn?: string;
  expected: AccessDecision['decision'];
  basis?: AccessDecision['basis'];
}

const cases: Case[] = [
  // The default key policy: the account root statement delegates to IAM.
  {
    name: 'default policy, same-account role, IAM unknown',
    keyPolicy: defaultKeyPolicy,
    caller: SESSION_A,
    action: 'kms:Decrypt',
    expected: 'depends-on-iam',
    basis: 'iam-unknown',
  },
  {
    name: 'default policy, same-account role, IAM allows kms:*',
    keyPolicy: defaultKeyPolicy,
    caller: SESSION_A,
    action: 'kms:Decrypt',
    identityPolicies: [iamAllowAll],
    expected: 'allow',
    basis: 'key-policy-and-iam',
  },
  {
    name: 'default policy, IAM allows only Encrypt',
    keyPolicy: defaultKeyPolicy,
    caller: SESSION_A,
    action: 'kms:Decrypt',
    identityPolicies: [iamAllowKey('kms:Encrypt')],
    expected: 'deny',
    basis: 'not-allowed-by-iam',
  },
  {
    name: 'default policy, IAM allows another key only',
    keyPolicy: defaultKeyPolicy,
    caller: SESSION_A,
    action: 'kms:Decrypt',
    identityPolicies: [iamAllowKey('kms:*', OTHER_KEY)],
    expected: 'deny',
    basis: 'not-allowed-by-iam',
  },
  {
    name: 'default policy, no identity policies at all',
    keyPolicy: defaultKeyPolicy,
    caller: SESSION_A,
    action: 'kms:Decrypt',
    identityPolicies: [],
    expected: 'deny',
    basis: 'not-allowed-by-iam',
  },
  {
    name: 'default policy, root user of the account',
    keyPolicy: defaultKeyPolicy,
    caller: ROOT_A,
    action: 'kms:ScheduleKeyDeletion',
    expected: 'allow',
    basis: 'key-policy',
  },
  {
    name: 'default policy, IAM user with IAM allow',
    keyPolicy: defaultKeyPolicy,
    caller: USER_A,
    action: 'kms:GenerateDataKeyWithoutPlaintext',
    identityPolicies: [iamAllowKey('kms:GenerateDataKey*')],
    expected: 'allow',
  },
  {
    name: 'default policy, other account role',
    keyPolicy: defaultKeyPolicy,
    caller: SESSION_B,
    action: 'kms:Decrypt',
    identityPolicies: [iamAllowAll],
    expected: 'deny',
    basis: 'not-allowed-by-key-policy',
  },
  {
    name: 'default policy, IAM explicit deny wins',
    keyPolicy: defaultKeyPolicy,
    caller: SESSION_A,
    action: 'kms:Decrypt',
    identityPolicies: [iamAllowAll, policy({ Effect: 'Deny', Action: 'kms:Decrypt', Resource: '*' })],
    expected: 'deny',
    basis: 'explicit-deny-in-iam',
  },
  {
    name: 'default policy, bare account id principal',
    keyPolicy: policy({ ...rootDelegation, Principal: { AWS: A } }),
    caller: SESSION_A,
    action: 'kms:Decrypt',
    identityPolicies: [iamAllowAll],
    expected: 'allow',
  },

  // Key users and key administrators statements of the default console policy.
  {
    name: 'key users: named role session, no IAM needed',
    keyPolicy: policy(...keyUsers(ROLE_A)),
    caller: SESSION_A,
    action: 'kms:Decrypt',
    expected: 'allow',
    basis: 'key-policy',
  },
  {
    name: 'key users: the role ARN itself as caller',
    keyPolicy: policy(...keyUsers(ROLE_A)),
    caller: ROLE_A,
    action: 'kms:Encrypt',
    expected: 'allow',
  },
  {
    name: 'key users: role with a path in the policy, session caller',
    keyPolicy: policy(...keyUsers(`arn:aws:iam::${A}:role/team/ExampleUserRole`)),
    caller: SESSION_A,
    action: 'kms:Decrypt',
    expected: 'allow',
  },
  {
    name: 'key users: role with path and known roleArn',
    keyPolicy: policy(...keyUsers(`arn:aws:iam::${A}:role/team/ExampleUserRole`)),
    caller: SESSION_A,
    roleArn: `arn:aws:iam::${A}:role/team/ExampleUserRole`,
    action: 'kms:Decrypt',
    expected: 'allow',
  },
  {
    name: 'key users: another role of the account',
    keyPolicy: policy(...keyUsers(ROLE_A)),
    caller: OTHER_SESSION_A,
    action: 'kms:Decrypt',
    identityPolicies: [iamAllowAll],
    expected: 'deny',
    basis: 'not-allowed-by-key-policy',
  },
  {
    name: 'key users: kms:ReEncrypt* covers ReEncryptFrom',
    keyPolicy: policy(...keyUsers(ROLE_A)),
    caller: SESSION_A,
    action: 'kms:ReEncryptFrom',
    expected: 'allow',
  },
  {
    name: 'key users: kms:ReEncrypt* covers ReEncryptTo',
    keyPolicy: policy(...keyUsers(ROLE_A)),
    caller: SESSION_A,
    action: 'kms:ReEncryptTo',
    expected: 'allow',
  },
  {
    name: 'key users: GenerateDataKey* covers WithoutPlaintext',
    keyPolicy: policy(...keyUsers(ROLE_A)),
    caller: SESSION_A,
    action: 'kms:GenerateDataKeyWithoutPlaintext',
    expected: 'allow',
  },
  {
    name: 'key users: ScheduleKeyDeletion not listed',
    keyPolicy: policy(...keyUsers(ROLE_A)),
    caller: SESSION_A,
    action: 'kms:ScheduleKeyDeletion',
    expected: 'deny',
  },
  {
    name: 'key users: CreateGrant for an AWS resource',
    keyPolicy: policy(...keyUsers(ROLE_A)),
    caller: SESSION_A,
    action: 'kms:CreateGrant',
    context: { ...VIA_EC2, 'kms:GrantIsForAWSResource': 'true' },
    expected: 'allow',
  },
  {
    name: 'key users: CreateGrant without GrantIsForAWSResource',
    keyPolicy: policy(...keyUsers(ROLE_A)),
    caller: SESSION_A,
    action: 'kms:CreateGrant',
    expected: 'deny',
  },
  {
    name: 'key users: CreateGrant with GrantIsForAWSResource false',
    keyPolicy: policy(...keyUsers(ROLE_A)),
    caller: SESSION_A,
    action: 'kms:CreateGrant',
    context: { 'kms:GrantIsForAWSResource': false },
    expected: 'deny',
  },
  {
    name: 'key admins: Describe* covers DescribeKey',
    keyPolicy: policy(keyAdmins),
    caller: ADMIN_SESSION_A,
    action: 'kms:DescribeKey',
    expected: 'allow',
  },
  {
    name: 'key admins: cannot Decrypt',
    keyPolicy: policy(keyAdmins),
    caller: ADMIN_SESSION_A,
    action: 'kms:Decrypt',
    expected: 'deny',
  },

  // Another account: the key policy and the caller's IAM policies must both allow.
  {
    name: 'external account root in key policy, IAM allows',
    keyPolicy: policy(rootDelegation, ...keyUsers(ROOT_B)),
    caller: SESSION_B,
    action: 'kms:Decrypt',
    identityPolicies: [iamAllowKey(useActions)],
    expected: 'allow',
    basis: 'key-policy-and-iam',
  },
  {
    name: 'external account root in key policy, IAM unknown',
    keyPolicy: policy(rootDelegation, ...keyUsers(ROOT_B)),
    caller: SESSION_B,
    action: 'kms:Decrypt',
    expected: 'depends-on-iam',
  },
  {
    name: 'external account root in key policy, IAM allows nothing',
    keyPolicy: policy(rootDelegation, ...keyUsers(ROOT_B)),
    caller: SESSION_B,
    action: 'kms:Decrypt',
    identityPolicies: [],
    expected: 'deny',
    basis: 'not-allowed-by-iam',
  },
  {
    name: 'external role named in key policy still needs IAM',
    keyPolicy: policy(...keyUsers(ROLE_B)),
    caller: SESSION_B,
    action: 'kms:Decrypt',
    expected: 'depends-on-iam',
  },
  {
    name: 'external role named in key policy, IAM allows',
    keyPolicy: policy(...keyUsers(ROLE_B)),
    caller: SESSION_B,
    action: 'kms:Decrypt',
    identityPolicies: [iamAllowKey('kms:Decrypt')],
    expected: 'allow',
  },
  {
    name: 'external account as bare id',
    keyPolicy: policy(...keyUsers(B)),
    caller: SESSION_B,
    action: 'kms:DescribeKey',
    identityPolicies: [iamAllowAll],
    expected: 'allow',
  },
  {
    name: 'a third account is not allowed',
    keyPolicy: policy(...keyUsers(ROOT_B)),
    caller: SESSION_C,
    action: 'kms:Decrypt',
    identityPolicies: [iamAllowAll],
    expected: 'deny',
    basis: 'not-allowed-by-key-policy',
  },
  {
    name: 'external IAM allows another key only',
    keyPolicy: policy(...keyUsers(ROOT_B)),
    caller: SESSION_B,
    action: 'kms:Decrypt',
    identityPolicies: [iamAllowKey('kms:Decrypt', OTHER_KEY)],
    expected: 'deny',
    basis: 'not-allowed-by-iam',
  },
  {
    name: 'external IAM explicit deny',
    keyPolicy: policy(...keyUsers(ROOT_B)),
    caller: SESSION_B,
    action: 'kms:Decrypt',
    identityPolicies: [iamAllowAll, policy({ Effect: 'Deny', Action: 'kms:*', Resource: '*' })],
    expected: 'deny',
    basis: 'explicit-deny-in-iam',
  },
  {
    name: 'external root user needs no IAM policy',
    keyPolicy: policy(...keyUsers(ROOT_B)),
    caller: ROOT_B,
    action: 'kms:Decrypt',
    expected: 'allow',
  },
  {
    name: 'external principal list',
    keyPolicy: policy(...keyUsers([ROLE_A, ROLE_B])),
    caller: SESSION_B,
    action: 'kms:Encrypt',
    identityPolicies: [iamAllowAll],
    expected: 'allow',
  },

  // Explicit Deny wins.
  {
    name: 'deny on the same role beats its allow',
    keyPolicy: policy(...keyUsers(ROLE_A), {
      Sid: 'NoDecrypt',
      Effect: 'Deny',
      Principal: { AWS: ROLE_A },
      Action: 'kms:Decrypt',
      Resource: '*',
    }),
    caller: SESSION_A,
    action: 'kms:Decrypt',
    expected: 'deny',
    basis: 'explicit-deny-in-key-policy',
  },
  {
    name: 'deny of another action leaves Decrypt',
    keyPolicy: policy(rootDelegation, {
      Effect: 'Deny',
      Principal: '*',
      Action: 'kms:ScheduleKeyDeletion',
      Resource: '*',
    }),
    caller: SESSION_A,
    action: 'kms:Decrypt',
    identityPolicies: [iamAllowAll],
    expected: 'allow',
  },
  {
    name: 'deny NotAction Describe* denies Decrypt',
    keyPolicy: policy(...keyUsers(ROLE_A), {
      Effect: 'Deny',
      Principal: '*',
      NotAction: 'kms:Describe*',
      Resource: '*',
    }),
    caller: SESSION_A,
    action: 'kms:Decrypt',
    expected: 'deny',
    basis: 'explicit-deny-in-key-policy',
  },
  {
    name: 'deny NotAction Describe* leaves DescribeKey',
    keyPolicy: policy(...keyUsers(ROLE_A), {
      Effect: 'Deny',
      Principal: '*',
      NotAction: 'kms:Describe*',
      Resource: '*',
    }),
    caller: SESSION_A,
    action: 'kms:DescribeKey',
    expected: 'allow',
  },
  {
    name: 'deny other accounts by kms:CallerAccount',
    keyPolicy: policy(...keyUsers([ROLE_A, ROOT_B]), {
      Effect: 'Deny',
      Principal: '*',
      Action: 'kms:*',
      Resource: '*',
      Condition: { StringNotEquals: { 'kms:CallerAccount': A } },
    }),
    caller: SESSION_B,
    action: 'kms:Decrypt',
    identityPolicies: [iamAllowAll],
    expected: 'deny',
    basis: 'explicit-deny-in-key-policy',
  },
  {
    name: 'kms:CallerAccount deny spares the own account',
    keyPolicy: policy(...keyUsers([ROLE_A, ROOT_B]), {
      Effect: 'Deny',
      Principal: '*',
      Action: 'kms:*',
      Resource: '*',
      Condition: { StringNotEquals: { 'kms:CallerAccount': A } },
    }),
    caller: SESSION_A,
    action: 'kms:Decrypt',
    expected: 'allow',
  },
  {
    name: 'explicit deny beats a grant',
    keyPolicy: policy({ Effect: 'Deny', Principal: { AWS: ROLE_A }, Action: 'kms:Decrypt', Resource: '*' }),
    caller: SESSION_A,
    action: 'kms:Decrypt',
    grants: [{ granteePrincipal: ROLE_A, operations: ['Decrypt'] }],
    expected: 'deny',
    basis: 'explicit-deny-in-key-policy',
  },
  {
    name: 'deny by aws:PrincipalArn ArnLike',
    keyPolicy: policy(rootDelegation, {
      Effect: 'Deny',
      Principal: '*',
      Action: 'kms:*',
      Resource: '*',
      Condition: { ArnLike: { 'aws:PrincipalArn': `arn:aws:iam::${A}:role/Other*` } },
    }),
    caller: OTHER_SESSION_A,
    action: 'kms:Decrypt',
    identityPolicies: [iamAllowAll],
    expected: 'deny',
  },
  {
    name: 'deny everyone but the admin by ArnNotLike: other role',
    keyPolicy: policy(rootDelegation, {
      Effect: 'Deny',
      Principal: '*',
      Action: 'kms:ScheduleKeyDeletion',
      Resource: '*',
      Condition: { ArnNotLike: { 'aws:PrincipalArn': `arn:aws:iam::${A}:role/KMSAdmin*` } },
    }),
    caller: SESSION_A,
    action: 'kms:ScheduleKeyDeletion',
    identityPolicies: [iamAllowAll],
    expected: 'deny',
  },
  {
    name: 'deny everyone but the admin by ArnNotLike: admin',
    keyPolicy: policy(rootDelegation, {
      Effect: 'Deny',
      Principal: '*',
      Action: 'kms:ScheduleKeyDeletion',
      Resource: '*',
      Condition: { ArnNotLike: { 'aws:PrincipalArn': `arn:aws:iam::${A}:role/KMSAdmin*` } },
    }),
    caller: ADMIN_SESSION_A,
    action: 'kms:ScheduleKeyDeletion',
    identityPolicies: [iamAllowAll],
    expected: 'allow',
  },
  {
    name: 'NotPrincipal deny spares the listed role',
    keyPolicy: policy(...keyUsers(ROLE_A), {
      Effect: 'Deny',
      NotPrincipal: { AWS: [ROLE_A, ROOT_A] },
      Action: 'kms:*',
      Resource: '*',
    }),
    caller: SESSION_A,
    action: 'kms:Decrypt',
    expected: 'allow',
  },
  {
    name: 'NotPrincipal deny catches other roles',
    keyPolicy: policy(rootDelegation, {
      Effect: 'Deny',
      NotPrincipal: { AWS: [ROLE_A, ROOT_A] },
      Action: 'kms:*',
      Resource: '*',
    }),
    caller: OTHER_SESSION_A,
    action: 'kms:Decrypt',
    identityPolicies: [iamAllowAll],
    expected: 'deny',
    basis: 'explicit-deny-in-key-policy',
  },

  // NotAction and wildcards.
  {
    name: 'allow NotAction ScheduleKeyDeletion: Decrypt',
    keyPolicy: policy({
      Effect: 'Allow',
      Principal: { AWS: ROLE_A },
      NotAction: 'kms:ScheduleKeyDeletion',
      Resource: '*',
    }),
    caller: SESSION_A,
    action: 'kms:Decrypt',
    expected: 'allow',
  },
  {
    name: 'allow NotAction ScheduleKeyDeletion: ScheduleKeyDeletion',
    keyPolicy: policy({
      Effect: 'Allow',
      Principal: { AWS: ROLE_A },
      NotAction: ['kms:ScheduleKeyDeletion', 'kms:Delete*'],
      Resource: '*',
    }),
    caller: SESSION_A,
    action: 'kms:ScheduleKeyDeletion',
    expected: 'deny',
  },
  {
    name: 'kms:* matches any KMS action',
    keyPolicy: policy({ Effect: 'Allow', Principal: { AWS: ROLE_A }, Action: 'kms:*', Resource: '*' }),
    caller: SESSION_A,
    action: 'kms:GenerateDataKeyWithoutPlaintext',
    expected: 'allow',
  },
  {
    name: 'kms:Re* matches ReEncryptTo',
    keyPolicy: policy({ Effect: 'Allow', Principal: { AWS: ROLE_A }, Action: 'kms:Re*', Resource: '*' }),
    caller: SESSION_A,
    action: 'kms:ReEncryptTo',
    expected: 'allow',
  },
  {
    name: 'kms:?ecrypt matches Decrypt',
    keyPolicy: policy({ Effect: 'Allow', Principal: { AWS: ROLE_A }, Action: 'kms:?ecrypt', Resource: '*' }),
    caller: SESSION_A,
    action: 'kms:Decrypt',
    expected: 'allow',
  },
  {
    name: 'kms:?ecrypt does not match Encrypt',
    keyPolicy: policy({ Effect: 'Allow', Principal: { AWS: ROLE_A }, Action: 'kms:?ecrypt', Resource: '*' }),
    caller: SESSION_A,
    action: 'kms:Encrypt',
    expected: 'deny',
  },
  {
    name: 'action names are case-insensitive',
    keyPolicy: policy({ Effect: 'Allow', Principal: { AWS: ROLE_A }, Action: 'KMS:decrypt', Resource: '*' }),
    caller: SESSION_A,
    action: 'kms:Decrypt',
    expected: 'allow',
  },
  {
    name: 'Action * matches',
    keyPolicy: policy({ Effect: 'Allow', Principal: { AWS: ROLE_A }, Action: '*', Resource: '*' }),
    caller: SESSION_A,
    action: 'kms:Decrypt',
    expected: 'allow',
  },
  {
    name: 'ec2:* does not match a KMS action',
    keyPolicy: policy({ Effect: 'Allow', Principal: { AWS: ROLE_A }, Action: 'ec2:*', Resource: '*' }),
    caller: SESSION_A,
    action: 'kms:Decrypt',
    expected: 'deny',
  },
  {
    name: 'Resource names this key',
    keyPolicy: policy({ Effect: 'Allow', Principal: { AWS: ROLE_A }, Action: 'kms:Decrypt', Resource: KEY }),
    caller: SESSION_A,
    action: 'kms:Decrypt',
    expected: 'allow',
  },
  {
    name: 'Resource names another key',
    keyPolicy: policy({
      Effect: 'Allow',
      Principal: { AWS: ROLE_A },
      Action: 'kms:Decrypt',
      Resource: OTHER_KEY,
    }),
    caller: SESSION_A,
    action: 'kms:Decrypt',
    expected: 'deny',
  },
  {
    name: 'Resource with wildcards per ARN part',
    keyPolicy: policy({
      Effect: 'Allow',
      Principal: { AWS: ROLE_A },
      Action: 'kms:Decrypt',
      Resource: `arn:aws:kms:*:${A}:key/*`,
    }),
    caller: SESSION_A,
    action: 'kms:Decrypt',
    expected: 'allow',
  },

  // Condition keys and operators.
  {
    name: 'kms:ViaService StringEquals through EC2',
    keyPolicy: policy({
      Effect: 'Allow',
      Principal: { AWS: ROLE_A },
      Action: 'kms:Decrypt',
      Resource: '*',
      Condition: { StringEquals: VIA_EC2 },
    }),
    caller: SESSION_A,
    action: 'kms:Decrypt',
    context: VIA_EC2,
    expected: 'allow',
  },
  {
    name: 'kms:ViaService StringEquals, direct call',
    keyPolicy: policy({
      Effect: 'Allow',
      Principal: { AWS: ROLE_A },
      Action: 'kms:Decrypt',
      Resource: '*',
      Condition: { StringEquals: VIA_EC2 },
    }),
    caller: SESSION_A,
    action: 'kms:Decrypt',
    expected: 'deny',
  },
  {
    name: 'kms:ViaService StringLike ec2.*',
    keyPolicy: policy({
      Effect: 'Allow',
      Principal: { AWS: ROLE_A },
      Action: 'kms:Decrypt',
      Resource: '*',
      Condition: { StringLike: { 'kms:ViaService': 'ec2.*.amazonaws.com' } },
    }),
    caller: SESSION_A,
    action: 'kms:Decrypt',
    context: { 'kms:ViaService': 'ec2.eu-west-1.amazonaws.com' },
    expected: 'allow',
  },
  {
    name: 'kms:ViaService list is OR',
    keyPolicy: policy({
      Effect: 'Allow',
      Principal: { AWS: ROLE_A },
      Action: 'kms:Decrypt',
      Resource: '*',
      Condition: {
        StringEquals: { 'kms:ViaService': ['ec2.us-west-2.amazonaws.com', 'rds.us-west-2.amazonaws.com'] },
      },
    }),
    caller: SESSION_A,
    action: 'kms:Decrypt',
    context: { 'kms:ViaService': 'rds.us-west-2.amazonaws.com' },
    expected: 'allow',
  },
  {
    name: 'kms:ViaService other service',
    keyPolicy: policy({
      Effect: 'Allow',
      Principal: { AWS: ROLE_A },
      Action: 'kms:Decrypt',
      Resource: '*',
      Condition: {
        StringEquals: { 'kms:ViaService': ['ec2.us-west-2.amazonaws.com', 'rds.us-west-2.amazonaws.com'] },
      },
    }),
    caller: SESSION_A,
    action: 'kms:Decrypt',
    context: { 'kms:ViaService': 's3.us-west-2.amazonaws.com' },
    expected: 'deny',
  },
  {
    name: 'aws/ebs key: own account through EC2',
    keyPolicy: awsEbsKeyPolicy,
    caller: SESSION_A,
    action: 'kms:ReEncryptFrom',
    context: VIA_EC2,
    expected: 'allow',
    basis: 'key-policy',
  },
  {
    name: 'aws/ebs key: another account through EC2',
    keyPolicy: awsEbsKeyPolicy,
    caller: SESSION_B,
    action: 'kms:Decrypt',
    context: VIA_EC2,
    identityPolicies: [iamAllowAll],
    expected: 'deny',
    basis: 'not-allowed-by-key-policy',
  },
  {
    name: 'aws/ebs key: own account, direct Decrypt',
    keyPolicy: awsEbsKeyPolicy,
    caller: SESSION_A,
    action: 'kms:Decrypt',
    identityPolicies: [iamAllowAll],
    expected: 'deny',
  },
  {
    name: 'aws/ebs key: own account, direct DescribeKey via IAM',
    keyPolicy: awsEbsKeyPolicy,
    caller: SESSION_A,
    action: 'kms:DescribeKey',
    identityPolicies: [iamAllowAll],
    expected: 'allow',
    basis: 'key-policy-and-iam',
  },
  {
    name: 'StringEqualsIfExists: key absent',
    keyPolicy: policy({
      Effect: 'Allow',
      Principal: { AWS: ROLE_A },
      Action: 'kms:Decrypt',
      Resource: '*',
      Condition: { StringEqualsIfExists: VIA_EC2 },
    }),
    caller: SESSION_A,
    action: 'kms:Decrypt',
    expected: 'allow',
  },
  {
    name: 'StringEqualsIfExists: other value',
    keyPolicy: policy({
      Effect: 'Allow',
      Principal: { AWS: ROLE_A },
      Action: 'kms:Decrypt',
      Resource: '*',
      Condition: { StringEqualsIfExists: VIA_EC2 },
    }),
    caller: SESSION_A,
    action: 'kms:Decrypt',
    context: { 'kms:ViaService': 'rds.us-east-2.amazonaws.com' },
    expected: 'deny',
  },
  {
    name: 'Bool with a boolean context value',
    keyPolicy: policy({
      Effect: 'Allow',
      Principal: { AWS: ROLE_A },
      Action: 'kms:CreateGrant',
      Resource: '*',
      Condition: { Bool: { 'kms:GrantIsForAWSResource': true } },
    }),
    caller: SESSION_A,
    action: 'kms:CreateGrant',
    context: { 'kms:GrantIsForAWSResource': true },
    expected: 'allow',
  },
  {
    name: 'BoolIfExists: key absent',
    keyPolicy: policy({
      Effect: 'Allow',
      Principal: { AWS: ROLE_A },
      Action: 'kms:CreateGrant',
      Resource: '*',
      Condition: { BoolIfExists: { 'kms:GrantIsForAWSResource': 'true' } },
    }),
    caller: SESSION_A,
    action: 'kms:CreateGrant',
    expected: 'allow',
  },
  {
    name: 'kms:CallerAccount is derived from the caller',
    keyPolicy: policy({
      Effect: 'Allow',
      Principal: '*',
      Action: 'kms:Decrypt',
      Resource: '*',
      Condition: { StringEquals: { 'kms:CallerAccount': A } },
    }),
    caller: SESSION_A,
    action: 'kms:Decrypt',
    expected: 'allow',
  },
  {
    name: 'kms:CallerAccount of another account',
    keyPolicy: policy({
      Effect: 'Allow',
      Principal: '*',
      Action: 'kms:Decrypt',
      Resource: '*',
      Condition: { StringEquals: { 'kms:CallerAccount': A } },
    }),
    caller: SESSION_B,
    action: 'kms:Decrypt',
    identityPolicies: [iamAllowAll],
    expected: 'deny',
  },
  {
    name: 'aws:PrincipalAccount with Principal *',
    keyPolicy: policy({
      Effect: 'Allow',
      Principal: { AWS: '*' },
      Action: 'kms:Decrypt',
      Resource: '*',
      Condition: { StringEquals: { 'aws:PrincipalAccount': B } },
    }),
    caller: SESSION_B,
    action: 'kms:Decrypt',
    identityPolicies: [iamAllowAll],
    expected: 'allow',
  },
  {
    name: 'aws:PrincipalArn ArnLike role prefix matches a session',
    keyPolicy: policy({
      Effect: 'Allow',
      Principal: { AWS: '*' },
      Action: 'kms:Decrypt',
      Resource: '*',
      Condition: { ArnLike: { 'aws:PrincipalArn': `arn:aws:iam::${B}:role/Restore*` } },
    }),
    caller: SESSION_B,
    action: 'kms:Decrypt',
    identityPolicies: [iamAllowAll],
    expected: 'allow',
  },
  {
    name: 'aws:PrincipalArn ArnEquals the role',
    keyPolicy: policy({
      Effect: 'Allow',
      Principal: { AWS: '*' },
      Action: 'kms:Decrypt',
      Resource: '*',
      Condition: { ArnEquals: { 'aws:PrincipalArn': ROLE_A } },
    }),
    caller: SESSION_A,
    action: 'kms:Decrypt',
    expected: 'allow',
  },
  {
    name: 'aws:PrincipalArn ArnEquals another role',
    keyPolicy: policy({
      Effect: 'Allow',
      Principal: { AWS: '*' },
      Action: 'kms:Decrypt',
      Resource: '*',
      Condition: { ArnEquals: { 'aws:PrincipalArn': ROLE_A } },
    }),
    caller: OTHER_SESSION_A,
    action: 'kms:Decrypt',
    expected: 'deny',
  },
  {
    name: 'ForAnyValue:StringEquals on kms:GrantOperations',
    keyPolicy: policy({
      Effect: 'Allow',
      Principal: { AWS: ROLE_A },
      Action: 'kms:CreateGrant',
      Resource: '*',
      Condition: { 'ForAnyValue:StringEquals': { 'kms:GrantOperations': ['Decrypt'] } },
    }),
    caller: SESSION_A,
    action: 'kms:CreateGrant',
    context: { 'kms:GrantOperations': ['Encrypt', 'Decrypt'] },
    expected: 'allow',
  },
  {
    name: 'ForAnyValue with the key absent',
    keyPolicy: policy({
      Effect: 'Allow',
      Principal: { AWS: ROLE_A },
      Action: 'kms:CreateGrant',
      Resource: '*',
      Condition: { 'ForAnyValue:StringEquals': { 'kms:GrantOperations': ['Decrypt'] } },
    }),
    caller: SESSION_A,
    action: 'kms:CreateGrant',
    expected: 'deny',
  },
  {
    name: 'ForAllValues:StringEquals, subset',
    keyPolicy: policy({
      Effect: 'Allow',
      Principal: { AWS: ROLE_A },
      Action: 'kms:CreateGrant',
      Resource: '*',
      Condition: { 'ForAllValues:StringEquals': { 'kms:GrantOperations': ['Decrypt', 'Encrypt'] } },
    }),
    caller: SESSION_A,
    action: 'kms:CreateGrant',
    context: { 'kms:GrantOperations': ['Decrypt'] },
    expected: 'allow',
  },
  {
    name: 'ForAllValues:StringEquals, not a subset',
    keyPolicy: policy({
      Effect: 'Allow',
      Principal: { AWS: ROLE_A },
      Action: 'kms:CreateGrant',
      Resource: '*',
      Condition: { 'ForAllValues:StringEquals': { 'kms:GrantOperations': ['Decrypt', 'Encrypt'] } },
    }),
    caller: SESSION_A,
    action: 'kms:CreateGrant',
    context: { 'kms:GrantOperations': ['Decrypt', 'RetireGrant'] },
    expected: 'deny',
  },
  {
    name: 'ForAllValues with the key absent is true',
    keyPolicy: policy({
      Effect: 'Allow',
      Principal: { AWS: ROLE_A },
      Action: 'kms:CreateGrant',
      Resource: '*',
      Condition: { 'ForAllValues:StringEquals': { 'kms:GrantOperations': ['Decrypt'] } },
    }),
    caller: SESSION_A,
    action: 'kms:CreateGrant',
    expected: 'allow',
  },
  {
    name: 'Null true: direct calls only, direct',
    keyPolicy: policy({
      Effect: 'Allow',
      Principal: { AWS: ROLE_A },
      Action: 'kms:Decrypt',
      Resource: '*',
      Condition: { Null: { 'kms:ViaService': 'true' } },
    }),
    caller: SESSION_A,
    action: 'kms:Decrypt',
    expected: 'allow',
  },
  {
    name: 'Null true: direct calls only, through EC2',
    keyPolicy: policy({
      Effect: 'Allow',
      Principal: { AWS: ROLE_A },
      Action: 'kms:Decrypt',
      Resource: '*',
      Condition: { Null: { 'kms:ViaService': 'true' } },
    }),
    caller: SESSION_A,
    action: 'kms:Decrypt',
    context: VIA_EC2,
    expected: 'deny',
  },
  {
    name: 'StringEqualsIgnoreCase',
    keyPolicy: policy({
      Effect: 'Allow',
      Principal: { AWS: ROLE_A },
      Action: 'kms:Decrypt',
      Resource: '*',
      Condition: { StringEqualsIgnoreCase: { 'kms:ViaService': 'EC2.US-EAST-2.AMAZONAWS.COM' } },
    }),
    caller: SESSION_A,
    action: 'kms:Decrypt',
    context: VIA_EC2,
    expected: 'allow',
  },
  {
    name: 'StringNotLike excludes a service',
    keyPolicy: policy({
      Effect: 'Allow',
      Principal: { AWS: ROLE_A },
      Action: 'kms:Decrypt',
      Resource: '*',
      Condition: { StringNotLike: { 'kms:ViaService': 'rds.*' } },
    }),
    caller: SESSION_A,
    action: 'kms:Decrypt',
    context: VIA_EC2,
    expected: 'allow',
  },
  {
    name: 'two condition keys are AND',
    keyPolicy: policy({
      Effect: 'Allow',
      Principal: '*',
      Action: 'kms:Decrypt',
      Resource: '*',
      Condition: {
        StringEquals: { 'kms:CallerAccount': A, 'kms:ViaService': 'ec2.us-east-2.amazonaws.com' },
      },
    }),
    caller: SESSION_A,
    action: 'kms:Decrypt',
    context: { 'kms:ViaService': 'rds.us-east-2.amazonaws.com' },
    expected: 'deny',
  },
  {
    name: 'condition keys are case-insensitive',
    keyPolicy: policy({
      Effect: 'Allow',
      Principal: { AWS: ROLE_A },
      Action: 'kms:Decrypt',
      Resource: '*',
      Condition: { StringEquals: { 'KMS:VIASERVICE': 'ec2.us-east-2.amazonaws.com' } },
    }),
    caller: SESSION_A,
    action: 'kms:Decrypt',
    context: VIA_EC2,
    expected: 'allow',
  },
  {
    name: 'unsupported operator never allows',
    keyPolicy: policy({
      Effect: 'Allow',
      Principal: { AWS: ROLE_A },
      Action: 'kms:Decrypt',
      Resource: '*',
      Condition: { NumericLessThan: { 'kms:GrantConstraintType': '1' } },
    }),
    caller: SESSION_A,
    action: 'kms:Decrypt',
    expected: 'deny',
  },
  {
    name: 'unsupported operator in a Deny denies',
    keyPolicy: policy(...keyUsers(ROLE_A), {
      Effect: 'Deny',
      Principal: '*',
      Action: 'kms:Decrypt',
      Resource: '*',
      Condition: { DateGreaterThan: { 'aws:CurrentTime': '2020-01-01T00:00:00Z' } },
    }),
    caller: SESSION_A,
    action: 'kms:Decrypt',
    expected: 'deny',
  },

  // Grants.
  {
    name: 'grant to the role allows Decrypt',
    keyPolicy: defaultKeyPolicy,
    caller: SESSION_A,
    action: 'kms:Decrypt',
    identityPolicies: [],
    grants: [{ grantId: 'g-1', granteePrincipal: ROLE_A, operations: ['Decrypt', 'DescribeKey'] }],
    expected: 'allow',
    basis: 'grant',
  },
  {
    name: 'grant for other operations',
    keyPolicy: defaultKeyPolicy,
    caller: SESSION_A,
    action: 'kms:Decrypt',
    identityPolicies: [],
    grants: [{ granteePrincipal: ROLE_A, operations: ['Encrypt'] }],
    expected: 'deny',
  },
  {
    name: 'grant to another account role needs no IAM',
    keyPolicy: defaultKeyPolicy,
    caller: SESSION_B,
    action: 'kms:ReEncryptFrom',
    grants: [{ granteePrincipal: ROLE_B, operations: ['ReEncryptFrom', 'Decrypt'] }],
    expected: 'allow',
    basis: 'grant',
  },

  // Principal forms.
  {
    name: 'Principal * cross-account still needs IAM',
    keyPolicy: policy({ Effect: 'Allow', Principal: '*', Action: 'kms:Decrypt', Resource: '*' }),
    caller: SESSION_B,
    action: 'kms:Decrypt',
    expected: 'depends-on-iam',
  },
  {
    name: 'Principal {AWS:*} in the same account',
    keyPolicy: policy({ Effect: 'Allow', Principal: { AWS: '*' }, Action: 'kms:Decrypt', Resource: '*' }),
    caller: SESSION_A,
    action: 'kms:Decrypt',
    expected: 'allow',
    basis: 'key-policy',
  },
  {
    name: 'a service principal does not match a role',
    keyPolicy: policy({
      Effect: 'Allow',
      Principal: { Service: 'ec2.amazonaws.com' },
      Action: 'kms:Decrypt',
      Resource: '*',
    }),
    caller: SESSION_A,
    action: 'kms:Decrypt',
    identityPolicies: [iamAllowAll],
    expected: 'deny',
  },
  {
    name: 'a session ARN principal matches that session',
    keyPolicy: policy({
      Effect: 'Allow',
      Principal: { AWS: SESSION_A },
      Action: 'kms:Decrypt',
      Resource: '*',
    }),
    caller: SESSION_A,
    action: 'kms:Decrypt',
    expected: 'allow',
  },
  {
    name: 'a session ARN principal does not match another session',
    keyPolicy: policy({
      Effect: 'Allow',
      Principal: { AWS: SESSION_A },
      Action: 'kms:Decrypt',
      Resource: '*',
    }),
    caller: `arn:aws:sts::${A}:assumed-role/ExampleUserRole/session-2`,
    action: 'kms:Decrypt',
    expected: 'deny',
  },
  {
    name: 'a single statement object (not a list)',
    keyPolicy: {
      Version: '2012-10-17',
      Statement: { Effect: 'Allow', Principal: { AWS: ROLE_A }, Action: 'kms:Decrypt', Resource: '*' },
    },
    caller: SESSION_A,
    action: 'kms:Decrypt',
    expected: 'allow',
  },
  {
    name: 'a user is not matched by a role of the same name',
    keyPolicy: policy({
      Effect: 'Allow',
      Principal: { AWS: `arn:aws:iam::${A}:role/ExampleUser` },
      Action: 'kms:Decrypt',
      Resource: '*',
    }),
    caller: USER_A,
    action: 'kms:Decrypt',
    identityPolicies: [],
    expected: 'deny',
  },
];

describe('decideKeyAccess (AWS documented key policies)', () => {
  it('has at least 60 cases', () => {
    expect(cases.length).toBeGreaterThanOrEqual(60);
  });

  it.each(cases)('$name → $expected', (c) => {
    const input: KeyAccessInput = {
      keyArn: c.keyArn ?? KEY,
      keyPolicy: c.keyPolicy,
      caller: { arn: c.caller, ...(c.roleArn ? { roleArn: c.roleArn } : {}) },
      action: c.action,
      ...(c.context ? { context: c.context } : {}),
      ...(c.identityPolicies ? { identityPolicies: c.identityPolicies } : {}),
      ...(c.grants ? { grants: c.grants } : {}),
    };
    const decision = decideKeyAccess(input);
    expect(decision.decision, decision.reason).toBe(c.expected);
    if (c.basis) expect(decision.basis).toBe(c.basis);
    expect(decision.reason.length).toBeGreaterThan(10);
  });

  it('names the deciding statement in the reason', () => {
    const decision = decideKeyAccess({
      keyArn: KEY,
      keyPolicy: policy(...keyUsers(ROLE_A), {
        Sid: 'NoDecrypt',
        Effect: 'Deny',
        Principal: { AWS: ROLE_A },
        Action: 'kms:Decrypt',
        Resource: '*',
      }),
      caller: { arn: SESSION_A },
      action: 'kms:Decrypt',
    });
    expect(decision.reason).toContain('"NoDecrypt"');
  });
});
