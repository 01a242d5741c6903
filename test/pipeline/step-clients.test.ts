import { DescribeVolumesCommand } from '@aws-sdk/client-ec2';
import { CreateRoleCommand } from '@aws-sdk/client-iam';
import { ListKeysCommand } from '@aws-sdk/client-kms';
import { GetCallerIdentityCommand } from '@aws-sdk/client-sts';
import { type AwsClients, createAwsClients } from '@ec2-restore/aws-clients';
import { credentialsForAccount, randomAccountId } from '@ec2-restore/local-aws';
import { createStepClients } from '@ec2-restore/pipeline';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';

const redis = new Redis(process.env.REDIS_URL!);
afterAll(() => redis.disconnect());

describe('step clients', () => {
  it('spend a shared EC2 budget per (account, region) and report each new client set once', async () => {
    const accountId = randomAccountId();
    const made: AwsClients[] = [];
    const limits = {
      mutating: { burst: 1, perSecond: 1 },
      runInstances: { burst: 1, perSecond: 1 },
      nonMutating: { burst: 1, perSecond: 2 },
    };
    const clients = createStepClients({
      credentials: credentialsForAccount(accountId),
      ec2Budget: { redis, limits },
      onClientsCreated: (c) => made.push(c),
    });
    const ec2 = clients.source('eu-west-1').ec2;
    expect(clients.source('eu-west-1')).toBe(made[0]);
    expect(made).toHaveLength(1);

    // Burst 1, 2 per second: the fourth call cannot start before 1.5 s have passed.
    const started = Date.now();
    for (let i = 0; i < 4; i++) await ec2.send(new DescribeVolumesCommand({}));
    expect(Date.now() - started).toBeGreaterThanOrEqual(1_400);

    // The bucket is the worker role's account (found with STS) in that region.
    const keys = await redis.keys(`*ec2-budget*${accountId}*`);
    expect(keys.some((key) => key.includes('eu-west-1'))).toBe(true);
    clients.destroy();
  });

  it('assume the restore role once per restore, with the restore id as session name (CloudTrail tells restores apart)', async () => {
    const source = randomAccountId();
    const target = randomAccountId();
    const admin = createAwsClients({ region: 'eu-west-1', credentials: credentialsForAccount(target) });
    const { Role } = await admin.iam.send(
      new CreateRoleCommand({
        RoleName: `Restore-${Date.now()}`,
        AssumeRolePolicyDocument: JSON.stringify({
          Version: '2012-10-17',
          Statement: [
            { Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${source}:root` }, Action: 'sts:AssumeRole' },
          ],
        }),
      }),
    );
    admin.destroy();
    const clients = createStepClients({ credentials: credentialsForAccount(source) });
    const sessionOf = async (restoreId: string) => {
      const target = clients.target({ region: 'eu-west-1', roleArn: Role!.Arn!, restoreId });
      // Every client of the restore at once (as a step's first calls). The role may do nothing else;
      // a refusal comes after the credentials were used.
      const [identity] = await Promise.all([
        target.sts.send(new GetCallerIdentityCommand({})),
        target.ec2.send(new DescribeVolumesCommand({})).catch((error: Error) => error.name),
        target.kms.send(new ListKeysCommand({})).catch((error: Error) => error.name),
      ]);
      // One AssumeRole between them: they hold the same session's keys.
      const keys = await Promise.all(
        [target.sts, target.ec2, target.kms].map(async (c) => (await c.config.credentials()).accessKeyId),
      );
      expect(new Set(keys).size).toBe(1);
      return identity.Arn;
    };
    expect(await sessionOf('r-first')).toMatch(/assumed-role\/Restore-\d+\/ec2-restore-r-first$/);
    expect(await sessionOf('r-second')).toMatch(/assumed-role\/Restore-\d+\/ec2-restore-r-second$/);
    // The same restore keeps its clients (and sockets).
    const again = clients.target({ region: 'eu-west-1', roleArn: Role!.Arn!, restoreId: 'r-first' });
    expect(again).toBe(clients.target({ region: 'eu-west-1', roleArn: Role!.Arn!, restoreId: 'r-first' }));
    clients.destroy();
  });
});
