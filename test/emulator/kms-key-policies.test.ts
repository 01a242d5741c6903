import { randomUUID } from 'node:crypto';
import { CreateVolumeCommand, DescribeVolumesCommand } from '@aws-sdk/client-ec2';
import {
  CreateGrantCommand,
  DescribeKeyCommand,
  DisableKeyCommand,
  EncryptCommand,
  GenerateDataKeyWithoutPlaintextCommand,
  GetKeyPolicyCommand,
  RetireGrantCommand,
  ScheduleKeyDeletionCommand,
} from '@aws-sdk/client-kms';
import { GetCallerIdentityCommand } from '@aws-sdk/client-sts';
import { describe, expect, it } from 'vitest';
import {
  type Account,
  accountRoot,
  assumedRoleClients,
  createKey,
  createRestoreRole,
  EBS_KEY_ACTIONS,
  eventually,
  expectAwsError,
  keyPolicy,
  newAccount,
  ZONE,
} from '../support/index.ts';

/** AWS's AccessDeniedException text for a key policy that does not allow the caller. */
function notAllowed(callerArn: string, action: string, keyArn: string): string {
  return `User: ${callerArn} is not authorized to perform: ${action} on resource: ${keyArn} because no resource-based policy allows the ${action} action`;
}

/** DescribeKey as `caller`'s root: AccessDeniedException, no resource-based policy allows it. */
async function expectDescribeKeyDenied(caller: Account, keyArn: string): Promise<void> {
  await expectAwsError(
    caller.aws.kms.send(new DescribeKeyCommand({ KeyId: keyArn })),
    'AccessDeniedException',
    notAllowed(caller.rootArn, 'kms:DescribeKey', keyArn),
  );
}

/** A key whose policy names only a role of its account (the account root is not delegated to). */
async function keyOfRoleOnly() {
  const owner = newAccount();
  const externalId = randomUUID();
  const roleArn = await createRestoreRole(owner, owner.id, externalId);
  const key = await createKey(
    owner,
    keyPolicy({ Effect: 'Allow', Principal: { AWS: roleArn }, Action: 'kms:*' }),
  );
  return { owner, externalId, roleArn, key };
}

/**
 * A key of `owner` (its IAM decides, as in AWS's default key policy) with one more statement:
 * `effect` on `action` for principal "*" when kms:CallerAccount is `callerAccountId`.
 */
function keyWithCallerAccountRule(
  owner: Account,
  effect: 'Allow' | 'Deny',
  action: string | string[],
  callerAccountId: string,
) {
  return createKey(
    owner,
    keyPolicy(accountRoot(owner.id), {
      Effect: effect,
      Principal: '*',
      Action: action,
      Condition: { StringEquals: { 'kms:CallerAccount': callerAccountId } },
    }),
  );
}

describe('KMS key policies are enforced on use', () => {
  it('an explicit Deny wins over an Allow', async () => {
    const owner = newAccount();
    const key = await keyWithCallerAccountRule(owner, 'Deny', 'kms:GenerateDataKey*', owner.id);
    await owner.aws.kms.send(
      new EncryptCommand({ KeyId: key.Arn!, Plaintext: Buffer.from('still allowed') }),
    );
    await expectAwsError(
      owner.aws.kms.send(new GenerateDataKeyWithoutPlaintextCommand({ KeyId: key.Arn!, KeySpec: 'AES_256' })),
      'AccessDeniedException',
      `User: ${owner.rootArn} is not authorized to perform: kms:GenerateDataKeyWithoutPlaintext on resource: ${key.Arn} with an explicit deny in a resource-based policy`,
    );
  });

  it('a key policy naming a role allows its sessions and nobody else of the account', async () => {
    const { owner, externalId, roleArn, key } = await keyOfRoleOnly();
    const session = assumedRoleClients(owner, roleArn, externalId);
    const described = await session.kms.send(new DescribeKeyCommand({ KeyId: key.Arn! }));
    expect(described.KeyMetadata!.Arn).toBe(key.Arn);
    await expectDescribeKeyDenied(owner, key.Arn);
  });

  it('principal "*" with a kms:CallerAccount condition allows exactly that account', async () => {
    const owner = newAccount();
    const allowed = newAccount();
    const other = newAccount();
    const key = await keyWithCallerAccountRule(owner, 'Allow', ['kms:Describe*', 'kms:Encrypt'], allowed.id);
    await allowed.aws.kms.send(new DescribeKeyCommand({ KeyId: key.Arn! }));
    await expectDescribeKeyDenied(other, key.Arn);
  });

  it('kms:ViaService lets EBS use the key for the account but not direct calls; kms:GrantIsForAWSResource likewise', async () => {
    const owner = newAccount();
    const user = newAccount();
    const key = await createKey(
      owner,
      keyPolicy(
        accountRoot(owner.id),
        {
          Effect: 'Allow',
          Principal: { AWS: user.rootArn },
          Action: EBS_KEY_ACTIONS.filter((a) => a !== 'kms:CreateGrant'),
          Condition: { StringEquals: { 'kms:ViaService': 'ec2.eu-west-1.amazonaws.com' } },
        },
        {
          Effect: 'Allow',
          Principal: { AWS: user.rootArn },
          Action: 'kms:CreateGrant',
          Condition: { Bool: { 'kms:GrantIsForAWSResource': 'true' } },
        },
      ),
    );
    await expectDescribeKeyDenied(user, key.Arn);
    await expectAwsError(
      user.aws.kms.send(
        new CreateGrantCommand({ KeyId: key.Arn!, GranteePrincipal: user.rootArn, Operations: ['Decrypt'] }),
      ),
      'AccessDeniedException',
      notAllowed(user.rootArn, 'kms:CreateGrant', key.Arn!),
    );
    // Through EBS both conditions hold: the volume is created and stays.
    const volume = await user.aws.ec2.send(
      new CreateVolumeCommand({ AvailabilityZone: ZONE, Size: 1, Encrypted: true, KmsKeyId: key.Arn! }),
    );
    await new Promise((r) => setTimeout(r, 2_500));
    const described = await user.aws.ec2.send(new DescribeVolumesCommand({ VolumeIds: [volume.VolumeId!] }));
    expect(described.Volumes![0]!.State).toBe('available');
  });
});

describe('KMS key states', () => {
  it('a disabled key refuses cryptographic operations: DisabledException', async () => {
    const owner = newAccount();
    const key = await createKey(owner);
    await owner.aws.kms.send(new DisableKeyCommand({ KeyId: key.KeyId! }));
    await expectAwsError(
      owner.aws.kms.send(new EncryptCommand({ KeyId: key.Arn!, Plaintext: Buffer.from('x') })),
      'DisabledException',
      `${key.Arn} is disabled.`,
    );
  });

  it('key management calls take a key ARN as well as a key id (moto: HTML 500)', async () => {
    const owner = newAccount();
    const key = await createKey(owner);
    await owner.aws.kms.send(new DisableKeyCommand({ KeyId: key.Arn! }));
    expect(
      (await owner.aws.kms.send(new DescribeKeyCommand({ KeyId: key.Arn! }))).KeyMetadata?.KeyState,
    ).toBe('Disabled');
    await owner.aws.kms.send(new ScheduleKeyDeletionCommand({ KeyId: key.Arn!, PendingWindowInDays: 7 }));
    expect(
      (await owner.aws.kms.send(new DescribeKeyCommand({ KeyId: key.KeyId! }))).KeyMetadata?.KeyState,
    ).toBe('PendingDeletion');
  });
});

describe('KMS key management follows the key policy too', () => {
  it('the account cannot manage a key whose policy names only a role; the aws/ebs key is readable, not manageable', async () => {
    const { owner, externalId, roleArn, key } = await keyOfRoleOnly();
    await expectAwsError(
      owner.aws.kms.send(new GetKeyPolicyCommand({ KeyId: key.KeyId!, PolicyName: 'default' })),
      'AccessDeniedException',
      notAllowed(owner.rootArn, 'kms:GetKeyPolicy', key.Arn!),
    );
    const session = assumedRoleClients(owner, roleArn, externalId);
    const read = await session.kms.send(
      new GetKeyPolicyCommand({ KeyId: key.KeyId!, PolicyName: 'default' }),
    );
    expect(JSON.parse(read.Policy!).Statement[0].Principal.AWS).toBe(roleArn);

    const awsEbs = (await owner.aws.kms.send(new DescribeKeyCommand({ KeyId: 'alias/aws/ebs' })))
      .KeyMetadata!;
    const awsPolicy = await owner.aws.kms.send(
      new GetKeyPolicyCommand({ KeyId: awsEbs.KeyId!, PolicyName: 'default' }),
    );
    expect(awsPolicy.Policy).toContain('"kms:ViaService": "ec2.eu-west-1.amazonaws.com"');
    await expectAwsError(
      owner.aws.kms.send(new DisableKeyCommand({ KeyId: awsEbs.KeyId! })),
      'AccessDeniedException',
      notAllowed(owner.rootArn, 'kms:DisableKey', awsEbs.Arn!),
    );
  });
});

describe('KMS across accounts', () => {
  it('a key of another account, not allowed by its policy: AccessDeniedException (not NotFoundException)', async () => {
    const owner = newAccount();
    const stranger = newAccount();
    const key = await createKey(owner); // default policy: the owner account only
    await expectDescribeKeyDenied(stranger, key.Arn);
    // By key id alone the key is looked up in the caller's own account, where it does not exist.
    await expectAwsError(
      stranger.aws.kms.send(new DescribeKeyCommand({ KeyId: key.KeyId! })),
      'NotFoundException',
    );
  });

  it('a grant made cross-account lets its grantee use the key until retired by its token from the grantee account', async () => {
    const owner = newAccount();
    const grantee = newAccount();
    const externalId = randomUUID();
    const roleArn = await createRestoreRole(grantee, grantee.id, externalId);
    const key = await createKey(
      owner,
      keyPolicy(accountRoot(owner.id), {
        Effect: 'Allow',
        Principal: { AWS: grantee.rootArn },
        Action: ['kms:CreateGrant', 'kms:DescribeKey'],
      }),
    );
    const session = assumedRoleClients(grantee, roleArn, externalId);
    const sessionArn = (await session.sts.send(new GetCallerIdentityCommand({}))).Arn!;
    const generate = (GrantTokens?: string[]) =>
      session.kms.send(
        new GenerateDataKeyWithoutPlaintextCommand({ KeyId: key.Arn!, KeySpec: 'AES_256', GrantTokens }),
      );
    await expectAwsError(
      generate(),
      'AccessDeniedException',
      notAllowed(sessionArn, 'kms:GenerateDataKeyWithoutPlaintext', key.Arn!),
    );

    const grant = await grantee.aws.kms.send(
      new CreateGrantCommand({
        KeyId: key.Arn!,
        GranteePrincipal: roleArn,
        Operations: ['GenerateDataKeyWithoutPlaintext', 'Decrypt'],
      }),
    );
    // At once with its grant token; without it once the grant is in effect (grant-tokens.html).
    const generated = await generate([grant.GrantToken!]);
    expect(generated.KeyId).toBe(key.Arn);
    await eventually(() =>
      generate().then(
        () => true,
        () => undefined,
      ),
    );
    // The grant covers only its operations.
    await expectAwsError(
      session.kms.send(new EncryptCommand({ KeyId: key.Arn!, Plaintext: Buffer.from('x') })),
      'AccessDeniedException',
      notAllowed(sessionArn, 'kms:Encrypt', key.Arn!),
    );

    await grantee.aws.kms.send(new RetireGrantCommand({ GrantToken: grant.GrantToken! }));
    await expectAwsError(generate(), 'AccessDeniedException');
  });
});
