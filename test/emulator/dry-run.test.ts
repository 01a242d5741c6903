import { randomUUID } from 'node:crypto';
import {
  CreateVolumeCommand,
  DescribeInstancesCommand,
  DescribeVolumesCommand,
  RunInstancesCommand,
} from '@aws-sdk/client-ec2';
import { GetCallerIdentityCommand } from '@aws-sdk/client-sts';
import { describe, expect, it } from 'vitest';
import {
  amazonImageId,
  assumedRoleClients,
  createRestoreRole,
  expectAwsError,
  newAccount,
  ZONE,
} from '../support/index.ts';

// Every EC2 action's DryRun parameter: "Checks whether you have the required permissions for the
// action, without actually making the request, and provides an error response. If you have the
// required permissions, the error response is DryRunOperation. Otherwise, it is
// UnauthorizedOperation." DryRunOperation is HTTP 412
// (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/errors-overview.html).
// Plain moto 5.2.1 answers DryRun with HTTP 400 for the actions that look at it and ignores it in
// the others (DescribeVolumes answers the volumes), and never checks permissions.

describe('EC2 DryRun', () => {
  it('a caller who may: DryRunOperation, HTTP 412, and nothing is created; describes too', async () => {
    const account = newAccount();
    const error = await expectAwsError(
      account.aws.ec2.send(new CreateVolumeCommand({ AvailabilityZone: ZONE, Size: 1, DryRun: true })),
      'DryRunOperation',
      'Request would have succeeded, but DryRun flag is set.',
    );
    expect(error.$metadata?.httpStatusCode).toBe(412);
    await expectAwsError(
      account.aws.ec2.send(new DescribeVolumesCommand({ DryRun: true })),
      'DryRunOperation',
    );
    const { Volumes = [] } = await account.aws.ec2.send(new DescribeVolumesCommand({}));
    expect(Volumes).toHaveLength(0);
  });

  it('a role that may not: UnauthorizedOperation, HTTP 403; that may: DryRunOperation; no instance either way', async () => {
    const account = newAccount();
    const externalId = randomUUID();
    const describeOnly = JSON.stringify({
      Version: '2012-10-17',
      Statement: [{ Effect: 'Allow', Action: 'ec2:Describe*', Resource: '*' }],
    });
    const roleArn = await createRestoreRole(account, account.id, externalId, describeOnly);
    const session = assumedRoleClients(account, roleArn, externalId);
    const sessionArn = (await session.sts.send(new GetCallerIdentityCommand({}))).Arn!;
    const run = {
      ImageId: await amazonImageId(session.ec2),
      InstanceType: 't3.micro' as const,
      MinCount: 1,
      MaxCount: 1,
      DryRun: true,
    };
    const refused = await expectAwsError(
      session.ec2.send(new RunInstancesCommand(run)),
      'UnauthorizedOperation',
      new RegExp(
        `^You are not authorized to perform this operation\\. User: ${sessionArn} is not authorized to perform: ec2:RunInstances on resource: `,
      ),
    );
    expect(refused.$metadata?.httpStatusCode).toBe(403);
    await expectAwsError(session.ec2.send(new DescribeInstancesCommand({ DryRun: true })), 'DryRunOperation');
    await expectAwsError(account.aws.ec2.send(new RunInstancesCommand(run)), 'DryRunOperation');
    const { Reservations = [] } = await account.aws.ec2.send(new DescribeInstancesCommand({}));
    expect(Reservations).toHaveLength(0);
  });
});
