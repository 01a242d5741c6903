import type { Check, CheckId } from '@ec2-restore/contracts';
import { describe, expect, it } from 'vitest';
import { runChecks } from './checks.ts';
import type { PreflightFacts } from './facts.ts';
import { planFromFacts } from './plan-steps.ts';
import {
  allowAllEc2,
  awsEbsDefaultKeyFacts,
  crossAccountFacts,
  foundInstanceType,
  keyFacts,
  keyMetadata,
  principal,
  REGION,
  RESTORE_ROLE,
  rootDelegation,
  SAME_ACCOUNT_KEY,
  SOURCE,
  sameAccountFacts,
  TARGET,
  TARGET_KEY,
  WORKER_ROLE,
  WORKER_SESSION,
} from './test-facts.ts';

function byId(checks: Check[], id: CheckId): Check {
  const check = checks.find((c) => c.id === id);
  if (!check) throw new Error(`no check ${id} in ${checks.map((c) => c.id).join(', ')}`);
  return check;
}
// Groups of checks every mode runs, in the order runChecks reports them.
const TARGET_KEY_CHECKS = ['target-key.exists', 'target-key.state', 'target-key.spec', 'target-key.region'];
const RESTORE_POINT_CHECKS = [
  'restore-point.volumes',
  'restore-point.volume-limits',
  'restore-point.attachments',
];
const EXISTING_INSTANCE = 'i-0123456789abcdef0';
/** A volume-level restore of /dev/xvdf onto an existing instance in `state` that uses `deviceNames`. */
function onExistingInstance(state: string, deviceNames: string[]): PreflightFacts {
  const facts = sameAccountFacts({ volumes: ['/dev/xvdf'], instance: { instanceId: EXISTING_INSTANCE } });
  facts.existingInstance = { instanceId: EXISTING_INSTANCE, found: true, state, deviceNames };
  return facts;
}
const failing = (checks: Check[]) => checks.filter((c) => c.status === 'fail').map((c) => c.id);
const notPassing = (checks: Check[]) => checks.filter((c) => c.status !== 'pass').map((c) => c.id);
/** The ids of the checks in the order they ran, once every one of them passed. */
function idsIfAllPass(checks: Check[]): CheckId[] {
  expect(notPassing(checks)).toEqual([]);
  return checks.map((c) => c.id);
}

describe('runChecks: same account', () => {
  it('passes when the worker role may use the target key', () => {
    const checks = runChecks(sameAccountFacts());
    expect(idsIfAllPass(checks)).toEqual([
      'worker-identity',
      'mode',
      ...TARGET_KEY_CHECKS,
      'target-key.access.worker-role',
      'permissions.worker-role',
      'instance.launch-strategy',
      ...RESTORE_POINT_CHECKS,
    ]);
    expect(byId(checks, 'mode').message).toContain('Same account');
  });

  it('warns "depends on IAM" when the key delegates to IAM and the role policies are unknown', () => {
    const facts = sameAccountFacts();
    facts.worker.principal = principal(WORKER_SESSION, WORKER_ROLE);
    const check = byId(runChecks(facts), 'target-key.access.worker-role');
    expect(check.status).toBe('warn');
    expect(check.message).toContain('delegates to the account');
    expect(check.remedy?.policy?.attachTo).toBe(`IAM policy of ${WORKER_ROLE}`);
    expect(check.remedy?.commands?.[0]).toContain('aws iam put-role-policy --role-name ec2-restore-worker');
  });

  it('fails with IAM statements when the role policies do not allow the key', () => {
    const facts = sameAccountFacts();
    facts.worker.principal = principal(WORKER_SESSION, WORKER_ROLE, [
      { Statement: [{ Effect: 'Allow', Action: 'kms:DescribeKey', Resource: '*' }] },
    ]);
    const check = byId(runChecks(facts), 'target-key.access.worker-role');
    expect(check.status).toBe('fail');
    expect(check.message).toContain('kms:Decrypt');
    const resources = check.remedy?.policy?.statements.map((s) => s.Resource);
    expect(resources).toContain(SAME_ACCOUNT_KEY);
  });

  it("fails a worker role that may use the key only through EC2 and EBS: the snapshot step reads the key's state itself (DescribeKey)", () => {
    const facts = sameAccountFacts();
    facts.worker.principal = principal(WORKER_SESSION, WORKER_ROLE, [
      {
        Statement: [
          {
            Effect: 'Allow',
            Action: 'kms:*',
            Resource: '*',
            Condition: { StringLike: { 'kms:ViaService': ['ec2.*', 'ebs.*'] } },
          },
        ],
      },
      allowAllEc2,
    ]);
    const check = byId(runChecks(facts), 'target-key.access.worker-role');
    expect(check.status).toBe('fail');
    expect(check.message).toContain('kms:DescribeKey');
    expect(check.message).toContain("read the key's state");
  });

  it('the root user of the account needs no IAM policy', () => {
    const facts = sameAccountFacts();
    facts.worker.principal = { identity: { arn: `arn:aws:iam::${SOURCE}:root`, accountId: SOURCE } };
    expect(notPassing(runChecks(facts))).toEqual([]);
  });

  it.each([
    ['Disabled', ['aws kms enable-key']],
    ['PendingDeletion', ['aws kms cancel-key-deletion', 'aws kms enable-key']],
  ])('fails a %s target key with the commands to fix it', (keyState, commands) => {
    const facts = sameAccountFacts();
    facts.targetKey.metadata = keyMetadata(SAME_ACCOUNT_KEY, {
      keyState,
      deletionDate: '2026-12-04T00:00:00Z',
    });
    const check = byId(runChecks(facts), 'target-key.state');
    expect(check.status).toBe('fail');
    expect(check.message).toContain(keyState);
    commands.forEach((command, i) => {
      expect(check.remedy?.commands?.[i]).toContain(`${command} --key-id ${SAME_ACCOUNT_KEY}`);
    });
    if (keyState === 'PendingDeletion') expect(check.message).toContain('2026-12-04');
  });

  it.each([
    ['RSA_2048', 'SIGN_VERIFY'],
    ['RSA_2048', 'ENCRYPT_DECRYPT'],
    ['ECC_NIST_P256', 'SIGN_VERIFY'],
    ['HMAC_256', 'GENERATE_VERIFY_MAC'],
  ])('fails an asymmetric or HMAC key (%s, %s)', (keySpec, keyUsage) => {
    const facts = sameAccountFacts();
    facts.targetKey.metadata = keyMetadata(SAME_ACCOUNT_KEY, { keySpec, keyUsage });
    const check = byId(runChecks(facts), 'target-key.spec');
    expect(check.status).toBe('fail');
    expect(check.message).toContain(keySpec);
    expect(check.remedy?.commands?.[0]).toContain('--key-spec SYMMETRIC_DEFAULT');
  });

  it('fails a key of another region, and offers to replicate a multi-Region key', () => {
    const otherRegionKey = `arn:aws:kms:us-east-1:${SOURCE}:key/mrk-1234abcd12ab34cd56ef1234567890ab`;
    const facts = sameAccountFacts({
      target: { accountId: SOURCE, region: REGION, kmsKeyId: otherRegionKey },
    });
    facts.targetKey = keyFacts(otherRegionKey, [], { multiRegion: true, multiRegionKeyType: 'PRIMARY' });
    const check = byId(runChecks(facts), 'target-key.region');
    expect(check.status).toBe('fail');
    expect(check.message).toContain('us-east-1');
    expect(check.remedy?.commands).toEqual([
      `aws kms replicate-key --key-id ${otherRegionKey} --replica-region ${REGION} --region us-east-1`,
    ]);
  });

  it('accepts a multi-Region replica in the target region', () => {
    const replica = `arn:aws:kms:${REGION}:${SOURCE}:key/mrk-1234abcd12ab34cd56ef1234567890ab`;
    const facts = sameAccountFacts();
    facts.targetKey = keyFacts(replica, [], { multiRegion: true, multiRegionKeyType: 'REPLICA' });
    const check = byId(runChecks(facts), 'target-key.region');
    expect(check.status).toBe('pass');
    expect(check.message).toContain('replica');
  });

  it('fails a key that does not exist and skips the checks that need it', () => {
    const facts = sameAccountFacts();
    facts.targetKey = {
      requested: 'alias/missing',
      describeError: { code: 'NotFoundException', message: 'Alias not found' },
    };
    const checks = runChecks(facts);
    expect(byId(checks, 'target-key.exists').status).toBe('fail');
    expect(byId(checks, 'target-key.exists').remedy?.commands?.[0]).toBe(
      `aws kms describe-key --key-id alias/missing --region ${REGION}`,
    );
    expect(checks.some((c) => c.id === 'target-key.state' || c.id === 'target-key.access.worker-role')).toBe(
      false,
    );
  });

  it('warns with the statements to add when the key policy cannot be read', () => {
    const facts = sameAccountFacts();
    delete facts.targetKey.policy;
    facts.targetKey.policyError = { code: 'AccessDeniedException', message: 'no GetKeyPolicy' };
    const check = byId(runChecks(facts), 'target-key.access.worker-role');
    expect(check.status).toBe('warn');
    expect(check.message).toContain('AccessDeniedException');
    expect(check.remedy?.policy?.statements[0]?.Principal).toEqual({ AWS: WORKER_ROLE });
  });

  it('needs the create-volume actions of the restore role when one is given', () => {
    const facts = sameAccountFacts({
      target: {
        accountId: SOURCE,
        region: REGION,
        kmsKeyId: SAME_ACCOUNT_KEY,
        roleArn: `arn:aws:iam::${SOURCE}:role/Restore`,
      },
    });
    facts.restoreRole = {
      roleArn: `arn:aws:iam::${SOURCE}:role/Restore`,
      principal: principal(
        `arn:aws:sts::${SOURCE}:assumed-role/Restore/s`,
        `arn:aws:iam::${SOURCE}:role/Restore`,
        [],
      ),
    };
    const checks = runChecks(facts);
    expect(byId(checks, 'restore-role-assumable').status).toBe('pass');
    expect(byId(checks, 'target-key.access.restore-role').status).toBe('fail');
    expect(byId(checks, 'target-key.access.worker-role').status).toBe('pass');
  });
});

describe('runChecks: another account', () => {
  it('passes with a customer managed default key shared with the target account', () => {
    expect(idsIfAllPass(runChecks(crossAccountFacts()))).toEqual([
      'worker-identity',
      'mode',
      'restore-role-assumable',
      ...TARGET_KEY_CHECKS,
      'source-default-key.exists',
      'source-default-key.customer-managed',
      'source-default-key.state',
      'source-default-key.access.worker-role',
      'target-key.access.restore-role',
      'source-default-key.access.restore-role',
      'permissions.worker-role',
      'permissions.restore-role',
      'instance.launch-strategy',
      ...RESTORE_POINT_CHECKS,
    ]);
  });

  it('fails the aws/ebs default key before anything is created, with the KB3057 remedy', () => {
    const facts = crossAccountFacts();
    facts.sourceDefaultKey = awsEbsDefaultKeyFacts();
    const plan = planFromFacts(facts);
    expect(plan.ok).toBe(false);
    const check = byId(plan.checks, 'source-default-key.customer-managed');
    expect(check.status).toBe('fail');
    expect(check.message).toContain('aws/ebs');
    expect(check.message).toContain('Encrypted snapshots with EBS default key cannot be shared');
    expect(check.message).toContain('KB3057');
    const commands = check.remedy?.commands ?? [];
    expect(commands[0]).toMatch(/^aws kms create-key .* --region eu-west-1$/);
    expect(commands[2]).toBe(
      `aws ec2 modify-ebs-default-kms-key-id --kms-key-id alias/ec2-restore-ebs-default --region ${REGION}`,
    );
    const principals = check.remedy?.policy?.statements.map((s) => JSON.stringify(s.Principal));
    expect(principals).toContain(JSON.stringify({ AWS: `arn:aws:iam::${SOURCE}:root` }));
    expect(principals).toContain(JSON.stringify({ AWS: WORKER_ROLE }));
    expect(principals).toContain(JSON.stringify({ AWS: RESTORE_ROLE }));
    // The aws/ebs key policy only serves its own account: the restore role cannot use it either.
    expect(byId(plan.checks, 'source-default-key.access.restore-role').status).toBe('fail');
  });

  it('fails when the restore role cannot be assumed, with the trust policy to set', () => {
    const facts = crossAccountFacts({
      target: {
        accountId: TARGET,
        region: REGION,
        roleArn: RESTORE_ROLE,
        externalId: 'ext-42',
        kmsKeyId: TARGET_KEY,
      },
    });
    facts.restoreRole = {
      roleArn: RESTORE_ROLE,
      externalId: 'ext-42',
      assumeError: { code: 'AccessDenied', message: 'not authorized to perform sts:AssumeRole' },
    };
    const checks = runChecks(facts);
    const check = byId(checks, 'restore-role-assumable');
    expect(check.status).toBe('fail');
    expect(check.message).toContain('AccessDenied');
    expect(check.remedy?.policy?.statements[0]).toMatchObject({
      Principal: { AWS: WORKER_ROLE },
      Action: 'sts:AssumeRole',
      Condition: { StringEquals: { 'sts:ExternalId': 'ext-42' } },
    });
    expect(check.remedy?.commands?.[0]).toContain('aws iam update-assume-role-policy --role-name Restore');
    expect(byId(checks, 'target-key.access.restore-role').status).toBe('warn');
    expect(failing(checks)).toEqual(['restore-role-assumable']);
  });

  it('fails another account without a restore role', () => {
    const facts = crossAccountFacts({ target: { accountId: TARGET, region: REGION, kmsKeyId: TARGET_KEY } });
    delete facts.restoreRole;
    const check = byId(runChecks(facts), 'mode');
    expect(check.status).toBe('fail');
    expect(check.message).toContain('target.roleArn');
  });

  it('fails when the source default key policy does not let the target account in, with the statements', () => {
    const facts = crossAccountFacts();
    facts.sourceDefaultKey!.key = keyFacts(facts.sourceDefaultKey!.defaultKmsKeyId!, []);
    const check = byId(runChecks(facts), 'source-default-key.access.restore-role');
    expect(check.status).toBe('fail');
    expect(check.remedy?.policy?.attachTo).toContain('key policy of arn:aws:kms:eu-west-1:111111111111:key/');
    expect(check.remedy?.policy?.statements).toContainEqual(
      expect.objectContaining({
        Principal: { AWS: RESTORE_ROLE },
        Action: 'kms:CreateGrant',
        Condition: { Bool: { 'kms:GrantIsForAWSResource': 'true' } },
      }),
    );
    expect(check.remedy?.commands?.at(-1)).toContain('aws iam put-role-policy --role-name Restore');
  });

  it('passes the restore role on a key policy that names it, with the IAM policy of the role', () => {
    const facts = crossAccountFacts();
    facts.sourceDefaultKey!.key = keyFacts(facts.sourceDefaultKey!.defaultKmsKeyId!, [
      { Effect: 'Allow', Principal: { AWS: RESTORE_ROLE }, Action: 'kms:*', Resource: '*' },
    ]);
    expect(byId(runChecks(facts), 'source-default-key.access.restore-role').status).toBe('pass');
  });

  it('reports an explicit Deny on the target key for the restore role', () => {
    const facts = crossAccountFacts();
    facts.targetKey = keyFacts(TARGET_KEY, [
      {
        Sid: 'NoEc2',
        Effect: 'Deny',
        Principal: '*',
        Action: 'kms:CreateGrant',
        Resource: '*',
        Condition: { StringLike: { 'kms:ViaService': 'ec2.*' } },
      },
    ]);
    const check = byId(runChecks(facts), 'target-key.access.restore-role');
    expect(check.status).toBe('fail');
    expect(check.remedy?.summary).toContain('"NoEc2"');
  });

  it('with kmsGrant auto, the worker role must be able to create the grant itself', () => {
    const facts = crossAccountFacts({ kmsGrant: 'auto' });
    facts.worker.principal = principal(WORKER_SESSION, WORKER_ROLE, [
      {
        Statement: [
          {
            Effect: 'Allow',
            Action: 'kms:*',
            Resource: '*',
            Condition: { Bool: { 'kms:GrantIsForAWSResource': 'true' } },
          },
          { Effect: 'Allow', NotAction: 'kms:CreateGrant', Resource: '*' },
        ],
      },
    ]);
    const checks = runChecks(facts);
    expect(checks.some((c) => c.id === 'source-default-key.access.restore-role')).toBe(false);
    const check = byId(checks, 'source-default-key.access.worker-role');
    expect(check.status).toBe('fail');
    expect(check.message).toContain('kms:CreateGrant');
  });

  it('fails the restore role on a target key whose policy names only the account of the worker', () => {
    const facts = crossAccountFacts();
    facts.targetKey = { ...keyFacts(TARGET_KEY, []), policy: { Statement: [rootDelegation(SOURCE)] } };
    expect(byId(runChecks(facts), 'target-key.access.restore-role').status).toBe('fail');
  });

  it('fails when the source default key is disabled', () => {
    const facts = crossAccountFacts();
    facts.sourceDefaultKey!.key!.metadata = keyMetadata(facts.sourceDefaultKey!.defaultKmsKeyId!, {
      keyState: 'Disabled',
    });
    expect(byId(runChecks(facts), 'source-default-key.state').status).toBe('fail');
  });

  it('fails when the default key cannot be read', () => {
    const facts = crossAccountFacts();
    facts.sourceDefaultKey = { region: REGION, error: { code: 'UnauthorizedOperation', message: 'no' } };
    const check = byId(runChecks(facts), 'source-default-key.exists');
    expect(check.status).toBe('fail');
    expect(check.remedy?.summary).toContain('ec2:GetEbsDefaultKmsKeyId');
  });
});

describe('runChecks: identity, network, instance and restore point', () => {
  it('fails and has no mode when the worker credentials do not work', () => {
    const facts = sameAccountFacts();
    facts.worker = {
      identityError: { code: 'InvalidClientTokenId', message: 'The security token is invalid' },
    };
    const plan = planFromFacts(facts);
    expect(plan.ok).toBe(false);
    expect(plan.mode).toBeNull();
    expect(failing(plan.checks)).toEqual(['worker-identity', 'mode']);
    expect(plan.steps).toEqual([]);
  });

  it('checks the subnet and that the security groups are in its VPC', () => {
    const facts = sameAccountFacts({
      instance: {
        subnetId: 'subnet-0123456789abcdef0',
        securityGroupIds: ['sg-01234567', 'sg-89abcdef', 'sg-00000000'],
      },
    });
    facts.network = {
      subnet: {
        subnetId: 'subnet-0123456789abcdef0',
        found: true,
        vpcId: 'vpc-1',
        availabilityZone: 'eu-west-1a',
      },
      securityGroups: {
        requested: ['sg-01234567', 'sg-89abcdef', 'sg-00000000'],
        found: [
          { groupId: 'sg-01234567', vpcId: 'vpc-1' },
          { groupId: 'sg-89abcdef', vpcId: 'vpc-2' },
        ],
      },
    };
    const checks = runChecks(facts);
    expect(byId(checks, 'network.subnet').status).toBe('pass');
    const groups = byId(checks, 'network.security-groups');
    expect(groups.status).toBe('fail');
    expect(groups.message).toContain('sg-00000000 not found');
    expect(groups.message).toContain("sg-89abcdef not in the subnet's VPC vpc-1");
  });

  it('without a subnet, needs a default VPC', () => {
    const facts = sameAccountFacts();
    facts.network = { defaultVpc: { found: true, vpcId: 'vpc-0abc' } };
    expect(byId(runChecks(facts), 'network.subnet').message).toContain('default VPC vpc-0abc');
    facts.network = { defaultVpc: { found: false } };
    const check = byId(runChecks(facts), 'network.subnet');
    expect(check.status).toBe('fail');
    expect(check.remedy?.commands?.[0]).toBe(`aws ec2 create-default-vpc --region ${REGION}`);
  });

  it('fails a missing subnet', () => {
    const facts = sameAccountFacts({ instance: { subnetId: 'subnet-0123456789abcdef0' } });
    facts.network = {
      subnet: {
        subnetId: 'subnet-0123456789abcdef0',
        found: false,
        error: { code: 'InvalidSubnetID.NotFound', message: 'x' },
      },
    };
    expect(byId(runChecks(facts), 'network.subnet').message).toContain('InvalidSubnetID.NotFound');
  });

  it('fails an instance type of another architecture', () => {
    const facts = sameAccountFacts({ instance: { instanceType: 'm7g.large' } });
    facts.instanceType = { instanceType: 'm7g.large', found: true, architectures: ['arm64'] };
    const check = byId(runChecks(facts), 'instance.type');
    expect(check.status).toBe('fail');
    expect(check.message).toContain('x86_64');
  });

  it('fails requested volumes the restore point does not have', () => {
    const check = byId(
      runChecks(sameAccountFacts({ volumes: ['/dev/xvdg'], instance: { instanceId: EXISTING_INSTANCE } })),
      'restore-point.volumes',
    );
    expect(check.status).toBe('fail');
    expect(check.message).toContain('/dev/xvda, /dev/xvdf');
  });

  it('fails volumes outside the EBS limits of their type', () => {
    const facts = sameAccountFacts();
    facts.restorePoint = {
      ...facts.restorePoint,
      volumes: [
        { deviceName: '/dev/xvda', sizeGiB: 8, volumeType: 'gp3', iops: 90000 },
        { deviceName: '/dev/xvdf', sizeGiB: 100, volumeType: 'st1' },
        { deviceName: '/dev/xvdg', sizeGiB: 2000, volumeType: 'standard' },
        { deviceName: '/dev/xvdh', sizeGiB: 10, volumeType: 'gp9' as 'gp3' }, // not a type EBS knows: the check must name it,
      ],
    };
    const check = byId(runChecks(facts), 'restore-point.volume-limits');
    expect(check.status).toBe('fail');
    expect(check.message).toContain('/dev/xvda: 90000 IOPS');
    expect(check.message).toContain('/dev/xvdf: 100 GiB');
    expect(check.message).toContain('/dev/xvdg: 2000 GiB');
    expect(check.message).toContain('gp9');
  });

  it('fails more volumes than the instance type takes', () => {
    const facts = sameAccountFacts();
    facts.instanceType = foundInstanceType('t3.micro', { maxEbsVolumes: 1 });
    expect(byId(runChecks(facts), 'restore-point.attachments').status).toBe('fail');
  });

  it('fails a volume-level restore onto device names the instance already uses', () => {
    const facts = onExistingInstance('stopped', ['/dev/xvda', '/dev/xvdf']);
    const check = byId(runChecks(facts), 'instance.existing');
    expect(check.status).toBe('fail');
    expect(check.message).toContain('/dev/xvdf');
  });
});

describe('planFromFacts: steps and resources', () => {
  it('same account, EBS direct: snapshots with the target key, then instance and volumes', () => {
    const plan = planFromFacts(sameAccountFacts());
    expect(plan.ok).toBe(true);
    expect(plan.mode).toBe('same-account');
    expect(plan.steps.map((s) => s.name)).toEqual([
      'write-snapshot',
      'write-snapshot',
      'register-image',
      'create-instance',
      'create-volume',
      'attach-volume',
      'create-volume',
      'attach-volume',
      'cleanup',
    ]);
    const snapshots = plan.resources.filter((r) => r.kind === 'ebs-snapshot');
    expect(snapshots.map((r) => [r.deviceName, r.kmsKeyId, r.temporary])).toEqual([
      ['/dev/xvda', SAME_ACCOUNT_KEY, true],
      ['/dev/xvdf', SAME_ACCOUNT_KEY, true],
    ]);
  });

  it('another account, worker volume, kmsGrant auto: staging volumes, snapshots, shares and a grant, all temporary', () => {
    const facts: PreflightFacts = crossAccountFacts({ dataPath: 'worker-volume', kmsGrant: 'auto' });
    const plan = planFromFacts(facts);
    expect(plan.mode).toBe('cross-account');
    expect(
      plan.steps.filter((s) => s.deviceName === '/dev/xvdf').map((s) => `${s.name}@${s.accountId}`),
    ).toEqual([
      `create-worker-volume@${SOURCE}`,
      `write-volume@${SOURCE}`,
      `snapshot-volume@${SOURCE}`,
      `share-snapshot@${SOURCE}`,
      `create-volume@${TARGET}`,
      `attach-volume@${TARGET}`,
    ]);
    const temporary = plan.resources.filter((r) => r.temporary).map((r) => r.kind);
    // register-image: the target-owned copy of the root snapshot and the image are temporary too.
    expect(temporary.sort()).toEqual([
      'ebs-snapshot',
      'ebs-snapshot',
      'ebs-snapshot',
      'ebs-volume',
      'ebs-volume',
      'ec2-image',
      'kms-grant',
      'snapshot-share',
      'snapshot-share',
    ]);
    const kept = plan.resources.filter((r) => !r.temporary);
    expect(kept.every((r) => r.accountId === TARGET)).toBe(true);
    expect(kept.filter((r) => r.kind === 'ebs-volume').every((r) => r.kmsKeyId === TARGET_KEY)).toBe(true);
    expect(plan.steps.find((s) => s.name === 'create-instance')?.principal).toBe('restore-role');
  });

  it('verify: a read-back step after each write, on either data path', () => {
    const direct = planFromFacts(sameAccountFacts({ verify: true }));
    expect(direct.steps.map((s) => `${s.name}@${s.deviceName ?? ''}`).slice(0, 4)).toEqual([
      'write-snapshot@/dev/xvda',
      'verify-snapshot@/dev/xvda',
      'write-snapshot@/dev/xvdf',
      'verify-snapshot@/dev/xvdf',
    ]);
    const viaVolume = planFromFacts(crossAccountFacts({ dataPath: 'worker-volume', verify: true }));
    expect(viaVolume.steps.filter((s) => s.deviceName === '/dev/xvdf').map((s) => s.name)).toEqual([
      'create-worker-volume',
      'write-volume',
      'verify-volume',
      'snapshot-volume',
      'share-snapshot',
      'create-volume',
      'attach-volume',
    ]);
    const unverified = planFromFacts(sameAccountFacts());
    expect(unverified.steps.some((s) => s.name.startsWith('verify-'))).toBe(false);
  });

  it('a volume-level restore to an existing instance creates no instance', () => {
    const facts = onExistingInstance('running', ['/dev/xvda']);
    const plan = planFromFacts(facts);
    expect(plan.ok).toBe(true);
    expect(plan.steps.map((s) => s.name)).toEqual([
      'write-snapshot',
      'create-volume',
      'attach-volume',
      'cleanup',
    ]);
    expect(plan.resources.some((r) => r.kind === 'ec2-instance')).toBe(false);
  });
});
