import {
  CreateSecurityGroupCommand,
  CreateSubnetCommand,
  CreateTagsCommand,
  CreateVpcCommand,
  DescribeAvailabilityZonesCommand,
  DescribeSubnetsCommand,
  EnableEbsEncryptionByDefaultCommand,
  ModifyEbsDefaultKmsKeyIdCommand,
} from '@aws-sdk/client-ec2';
import { CreateRoleCommand, GetRoleCommand, PutRolePolicyCommand } from '@aws-sdk/client-iam';
import { CreateAliasCommand, CreateKeyCommand, DescribeKeyCommand } from '@aws-sdk/client-kms';
import { type AwsClients, type AwsCredentials, createAwsClients } from '@ec2-restore/aws-clients';

/** The resources of a ready-to-restore scenario: what a restore request names. */
export interface DemoScenario {
  region: string;
  source: { accountId: string; defaultKeyArn: string };
  target: {
    accountId: string;
    roleArn: string;
    externalId: string;
    kmsKeyArn: string;
    vpcId: string;
    subnetId: string;
    securityGroupId: string;
  };
}

export interface SeedScenarioOptions {
  region: string;
  sourceAccountId: string;
  targetAccountId: string;
  /** Credentials acting as an administrator of each account (the emulator's root credentials). */
  sourceCredentials: AwsCredentials;
  targetCredentials: AwsCredentials;
  endpoint?: string;
  /** @defaultValue 'ec2-restore-demo' */
  externalId?: string;
  /**
   * Make the source account's EBS default key a customer managed key that the target account may use
   * (what a cross-account restore needs). `false` leaves the AWS-managed `aws/ebs` key as the default,
   * the case the pre-flight checks refuse.
   * @defaultValue true
   */
  customerManagedDefaultKey?: boolean;
  /** Tag value marking everything seeded. @defaultValue 'demo' */
  name?: string;
}

/**
 * The account's first available zone: zone names are mapped per account and `<region>a` is not in
 * every account (https://docs.aws.amazon.com/global-infrastructure/latest/regions/az-ids.html).
 */
async function firstAvailableZone(clients: AwsClients, region: string): Promise<string> {
  const { AvailabilityZones = [] } = await clients.ec2.send(
    new DescribeAvailabilityZonesCommand({
      Filters: [
        { Name: 'state', Values: ['available'] },
        { Name: 'zone-type', Values: ['availability-zone'] },
      ],
    }),
  );
  const zone = AvailabilityZones.flatMap((z) => (z.ZoneName ? [z.ZoneName] : [])).sort()[0];
  if (!zone) throw new Error(`the target account has no available Availability Zone in ${region}`);
  return zone;
}

// Actions EBS needs on a key for encrypted volumes and snapshots; the product's pre-flight checks
// explain each one (packages/preflight). https://docs.aws.amazon.com/ebs/latest/userguide/ebs-encryption-requirements.html
const EBS_KEY_ACTIONS = [
  'kms:CreateGrant',
  'kms:Decrypt',
  'kms:DescribeKey',
  'kms:Encrypt',
  'kms:GenerateDataKeyWithoutPlaintext',
  'kms:ReEncrypt*',
];

function keyPolicy(ownerAccountId: string, users: string[]): string {
  return JSON.stringify({
    Version: '2012-10-17',
    Statement: [
      {
        Sid: 'Enable IAM User Permissions',
        Effect: 'Allow',
        Principal: { AWS: `arn:aws:iam::${ownerAccountId}:root` },
        Action: 'kms:*',
        Resource: '*',
      },
      {
        Sid: 'Allow use of the key for ec2-restore',
        Effect: 'Allow',
        Principal: { AWS: users },
        Action: EBS_KEY_ACTIONS,
        Resource: '*',
      },
    ],
  });
}

async function ensureKey(
  aws: AwsClients,
  alias: string,
  policy: string,
  description: string,
): Promise<string> {
  try {
    const found = await aws.kms.send(new DescribeKeyCommand({ KeyId: `alias/${alias}` }));
    if (found.KeyMetadata?.Arn) return found.KeyMetadata.Arn;
  } catch {
    // not there yet
  }
  const created = await aws.kms.send(
    new CreateKeyCommand({
      Description: description,
      Policy: policy,
      Tags: [{ TagKey: 'ec2-restore:demo', TagValue: alias }],
    }),
  );
  const arn = created.KeyMetadata!.Arn!;
  await aws.kms.send(new CreateAliasCommand({ AliasName: `alias/${alias}`, TargetKeyId: arn }));
  return arn;
}

/**
 * Seeds a source and a target account for a cross-account restore: a customer managed EBS default key in
 * the source account whose policy lets the target account use it, a restore role in the target account
 * that trusts the source account (with an ExternalId), a target key the restore role may use, and a VPC
 * with a subnet and a security group. Safe to run twice: existing keys and roles are reused.
 */
export async function seedDemoScenario(options: SeedScenarioOptions): Promise<DemoScenario> {
  const { region, sourceAccountId, targetAccountId } = options;
  const name = options.name ?? 'demo';
  const externalId = options.externalId ?? 'ec2-restore-demo';
  const endpoint = options.endpoint ? { endpoint: options.endpoint } : {};
  const source = createAwsClients({ region, credentials: options.sourceCredentials, ...endpoint });
  const target = createAwsClients({ region, credentials: options.targetCredentials, ...endpoint });
  try {
    const roleName = `ec2-restore-${name}-restore`;
    const roleArn = `arn:aws:iam::${targetAccountId}:role/${roleName}`;
    try {
      await target.iam.send(new GetRoleCommand({ RoleName: roleName }));
    } catch {
      await target.iam.send(
        new CreateRoleCommand({
          RoleName: roleName,
          Description: 'Assumed by the ec2-restore instance worker to restore into this account',
          AssumeRolePolicyDocument: JSON.stringify({
            Version: '2012-10-17',
            Statement: [
              {
                Effect: 'Allow',
                Principal: { AWS: `arn:aws:iam::${sourceAccountId}:root` },
                Action: 'sts:AssumeRole',
                Condition: { StringEquals: { 'sts:ExternalId': externalId } },
              },
            ],
          }),
        }),
      );
      await target.iam.send(
        new PutRolePolicyCommand({
          RoleName: roleName,
          PolicyName: 'ec2-restore',
          PolicyDocument: JSON.stringify({
            Version: '2012-10-17',
            Statement: [{ Effect: 'Allow', Action: ['ec2:*', 'kms:*'], Resource: '*' }],
          }),
        }),
      );
    }

    let defaultKeyArn: string;
    if (options.customerManagedDefaultKey ?? true) {
      defaultKeyArn = await ensureKey(
        source,
        `ec2-restore-${name}-source-default`,
        keyPolicy(sourceAccountId, [`arn:aws:iam::${targetAccountId}:root`, roleArn]),
        'EBS default key of the source account, shared with the restore target account',
      );
      await source.ec2.send(new ModifyEbsDefaultKmsKeyIdCommand({ KmsKeyId: defaultKeyArn }));
    } else {
      defaultKeyArn = `arn:aws:kms:${region}:${sourceAccountId}:alias/aws/ebs`;
    }
    await source.ec2.send(new EnableEbsEncryptionByDefaultCommand({}));

    const kmsKeyArn = await ensureKey(
      target,
      `ec2-restore-${name}-target`,
      keyPolicy(targetAccountId, [roleArn]),
      'The key the restored volumes are encrypted with',
    );

    const existing = await target.ec2.send(
      new DescribeSubnetsCommand({ Filters: [{ Name: 'tag:ec2-restore:demo', Values: [name] }] }),
    );
    let vpcId: string;
    let subnetId: string;
    const subnet = existing.Subnets?.[0];
    if (subnet?.SubnetId && subnet.VpcId) {
      vpcId = subnet.VpcId;
      subnetId = subnet.SubnetId;
    } else {
      vpcId = (await target.ec2.send(new CreateVpcCommand({ CidrBlock: '10.42.0.0/16' }))).Vpc!.VpcId!;
      subnetId = (
        await target.ec2.send(
          new CreateSubnetCommand({
            VpcId: vpcId,
            CidrBlock: '10.42.1.0/24',
            AvailabilityZone: await firstAvailableZone(target, region),
          }),
        )
      ).Subnet!.SubnetId!;
      await target.ec2.send(
        new CreateTagsCommand({
          Resources: [vpcId, subnetId],
          Tags: [{ Key: 'ec2-restore:demo', Value: name }],
        }),
      );
    }
    const securityGroupId = (
      await target.ec2.send(
        new CreateSecurityGroupCommand({
          GroupName: `ec2-restore-${name}-${Date.now()}`,
          Description: 'ec2-restore demo instance',
          VpcId: vpcId,
        }),
      )
    ).GroupId!;

    return {
      region,
      source: { accountId: sourceAccountId, defaultKeyArn },
      target: {
        accountId: targetAccountId,
        roleArn,
        externalId,
        kmsKeyArn,
        vpcId,
        subnetId,
        securityGroupId,
      },
    };
  } finally {
    source.destroy();
    target.destroy();
  }
}

/** The restore request that restores the demo restore point into the scenario's target account. */
export function demoRestoreRequest(
  scenario: DemoScenario,
  restorePointId: string,
  dataPath: 'ebs-direct' | 'worker-volume' = 'ebs-direct',
) {
  return {
    restorePointId,
    target: {
      accountId: scenario.target.accountId,
      region: scenario.region,
      roleArn: scenario.target.roleArn,
      externalId: scenario.target.externalId,
      kmsKeyId: scenario.target.kmsKeyArn,
    },
    instance: {
      name: 'restored-demo-web-1',
      subnetId: scenario.target.subnetId,
      securityGroupIds: [scenario.target.securityGroupId],
      powerOn: false,
    },
    dataPath,
  };
}
