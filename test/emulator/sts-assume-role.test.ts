import { randomUUID } from 'node:crypto';
import { CreateRoleCommand } from '@aws-sdk/client-iam';
import { CreateKeyCommand } from '@aws-sdk/client-kms';
import { AssumeRoleCommand, GetCallerIdentityCommand } from '@aws-sdk/client-sts';
import { describe, expect, it } from 'vitest';
import {
  type Account,
  assumedRoleClients,
  createRestoreRole,
  expectAwsError,
  newAccount,
} from '../support/index.ts';

function assumeRole(caller: Account, roleArn: string, externalId?: string) {
  return caller.aws.sts.send(
    new AssumeRoleCommand({
      RoleArn: roleArn,
      RoleSessionName: 'contract-test',
      ...(externalId ? { ExternalId: externalId } : {}),
    }),
  );
}

function denied(caller: Account, roleArn: string) {
  return `User: ${caller.rootArn} is not authorized to perform: sts:AssumeRole on resource: ${roleArn}`;
}

describe('STS AssumeRole follows the role trust policy', () => {
  it('refuses a role that does not exist: AccessDenied, HTTP 403', async () => {
    const caller = newAccount();
    const target = newAccount();
    const roleArn = `arn:aws:iam::${target.id}:role/DoesNotExist`;
    const error = await expectAwsError(assumeRole(caller, roleArn), 'AccessDenied', denied(caller, roleArn));
    expect(error.$metadata?.httpStatusCode).toBe(403);
  });

  it('refuses a caller whose account the trust policy does not name', async () => {
    const trusted = newAccount();
    const stranger = newAccount();
    const target = newAccount();
    const externalId = randomUUID();
    const roleArn = await createRestoreRole(target, trusted.id, externalId);
    await expectAwsError(
      assumeRole(stranger, roleArn, externalId),
      'AccessDenied',
      denied(stranger, roleArn),
    );
  });

  it('refuses a missing or wrong sts:ExternalId', async () => {
    const caller = newAccount();
    const target = newAccount();
    const roleArn = await createRestoreRole(target, caller.id, 'the-right-one');
    await expectAwsError(assumeRole(caller, roleArn), 'AccessDenied', denied(caller, roleArn));
    await expectAwsError(assumeRole(caller, roleArn, 'a-wrong-one'), 'AccessDenied', denied(caller, roleArn));
  });

  it('a trust policy naming the caller by ARN allows it', async () => {
    const caller = newAccount();
    const target = newAccount();
    const role = await target.aws.iam.send(
      new CreateRoleCommand({
        RoleName: `ByArn-${randomUUID().slice(0, 8)}`,
        AssumeRolePolicyDocument: JSON.stringify({
          Version: '2012-10-17',
          Statement: [{ Effect: 'Allow', Principal: { AWS: caller.rootArn }, Action: 'sts:AssumeRole' }],
        }),
      }),
    );
    const out = await assumeRole(caller, role.Role!.Arn!);
    expect(out.AssumedRoleUser!.Arn).toMatch(new RegExp(`^arn:aws:sts::${target.id}:assumed-role/ByArn-`));
  });

  it('credentials of the assumed role act in the role account', async () => {
    const caller = newAccount();
    const target = newAccount();
    const externalId = randomUUID();
    const roleArn = await createRestoreRole(target, caller.id, externalId);
    const session = assumedRoleClients(caller, roleArn, externalId);
    const identity = await session.sts.send(new GetCallerIdentityCommand({}));
    expect(identity.Account).toBe(target.id);
    expect(identity.Arn).toMatch(
      new RegExp(`^arn:aws:sts::${target.id}:assumed-role/${roleArn.split('/').pop()}/`),
    );
    const key = await session.kms.send(new CreateKeyCommand({}));
    expect(key.KeyMetadata!.AWSAccountId).toBe(target.id);
    // The caller's own root credentials report the root user.
    const root = await caller.aws.sts.send(new GetCallerIdentityCommand({}));
    expect(root).toMatchObject({ Account: caller.id, Arn: caller.rootArn });
  });
});
