/**
 * Emulator accounts for tests: a fresh random account per use (no state shared with any other test),
 * clients acting as its root user or as an assumed role, and its default network.
 * Every client made here is closed after the test file (test/setup-env.ts calls destroyOpenedClients).
 */
import { randomBytes } from 'node:crypto';
import {
  CreateSnapshotCommand,
  CreateVolumeCommand,
  DescribeImagesCommand,
  DescribeInstancesCommand,
  DescribeSubnetsCommand,
  DescribeVolumesCommand,
  type EC2Client,
  type Instance,
  ModifySnapshotAttributeCommand,
  RunInstancesCommand,
  type RunInstancesCommandInput,
  type Tag,
} from '@aws-sdk/client-ec2';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import {
  type AwsClients,
  type AwsCredentials,
  assumeRoleCredentials,
  createAwsClients,
} from '@ec2-restore/aws-clients';
import { credentialsForAccount, onceVisible, randomAccountId } from '@ec2-restore/local-aws';
import { untilSnapshotCompleted } from './ebs-direct.ts';

/** Every test works in this region. */
export const REGION = 'eu-west-1';
export const ZONE = `${REGION}a`;

const opened: AwsClients[] = [];

/**
 * Closes every client opened since the last call: test/setup-env.ts calls it after each test file.
 * (Not a hook registered here: test files share their worker's modules, so this module is imported
 * once per worker and a hook registered at import would cover only its first file.)
 */
export function destroyOpenedClients(): void {
  for (const clients of opened.splice(0)) clients.destroy();
}

export interface ClientOptions {
  /**
   * Attempts per call. A contract test must see AWS's first answer, not a retried one; end-to-end
   * worlds let the SDK retry like the product does.
   * @defaultValue 1
   */
  maxAttempts?: number;
  /** @defaultValue the run's emulator (AWS_ENDPOINT_URL) */
  endpoint?: string;
}

/** Clients that retry as the product's do (the SDK's standard mode, 4 attempts): for end-to-end worlds. */
export const SDK_RETRIES: ClientOptions = { maxAttempts: 4 };

export function clientsFor(credentials: AwsCredentials, options: ClientOptions = {}): AwsClients {
  const clients = createAwsClients({
    region: REGION,
    credentials,
    maxAttempts: options.maxAttempts ?? 1,
    ...(options.endpoint ? { endpoint: options.endpoint } : {}),
  });
  opened.push(clients);
  return clients;
}

export interface Account {
  id: string;
  /** Clients acting as the account's root user. */
  aws: AwsClients;
  rootArn: string;
}

/** A fresh random account, or account `id` (one an emulator was started with settings for). */
export function newAccount(options: ClientOptions & { id?: string } = {}): Account {
  const id = options.id ?? randomAccountId();
  return { id, aws: clientsFor(credentialsForAccount(id), options), rootArn: `arn:aws:iam::${id}:root` };
}

/** Clients acting as a session of `roleArn`, assumed by `caller`'s root user. */
export function assumedRoleClients(caller: Account, roleArn: string, externalId?: string): AwsClients {
  return clientsFor(
    assumeRoleCredentials({
      region: REGION,
      roleArn,
      sessionName: 'test',
      sourceCredentials: credentialsForAccount(caller.id),
      ...(externalId ? { externalId } : {}),
    }),
  );
}

export async function defaultSubnet(account: Account): Promise<{ subnetId: string; zone: string }> {
  const { Subnets = [] } = await account.aws.ec2.send(new DescribeSubnetsCommand({}));
  const subnet = Subnets.find((s) => s.AvailabilityZone === ZONE) ?? Subnets[0];
  return { subnetId: subnet?.SubnetId ?? '', zone: subnet?.AvailabilityZone ?? '' };
}

/** The id of an Amazon-owned image every account may launch. */
export async function amazonImageId(ec2: EC2Client): Promise<string> {
  const { Images = [] } = await ec2.send(new DescribeImagesCommand({ Owners: ['amazon'] }));
  return Images[0]!.ImageId!;
}

/** An instance launched by hand (the worker instance of worker-volume, or an existing instance), with `tags`. */
export async function launchInstance(
  account: Account,
  tags?: Tag[],
  more: Partial<RunInstancesCommandInput> = {},
): Promise<string> {
  const { subnetId } = await defaultSubnet(account);
  const { Instances = [] } = await account.aws.ec2.send(
    new RunInstancesCommand({
      ImageId: await amazonImageId(account.aws.ec2),
      InstanceType: 't3.micro',
      MinCount: 1,
      MaxCount: 1,
      SubnetId: subnetId,
      ...(tags ? { TagSpecifications: [{ ResourceType: 'instance', Tags: tags }] } : {}),
      ...more,
    }),
  );
  const instanceId = Instances[0]?.InstanceId ?? '';
  // A new id answers NotFound for a moment: the product takes this one as given (WORKER_INSTANCE_ID).
  await onceVisible(() => account.aws.ec2.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] })));
  return instanceId;
}

/**
 * Shares (`Add`) or unshares (`Remove`) a snapshot of `owner` with an account, once its new id is
 * visible (test/emulator/eventual-consistency.test.ts).
 */
export function shareSnapshot(
  owner: Account,
  snapshotId: string,
  accountId: string,
  op: 'Add' | 'Remove' = 'Add',
) {
  return onceVisible(() =>
    owner.aws.ec2.send(
      new ModifySnapshotAttributeCommand({
        SnapshotId: snapshotId,
        Attribute: 'createVolumePermission',
        CreateVolumePermission: { [op]: [{ UserId: accountId }] },
      }),
    ),
  );
}

/** A new S3 bucket of the account, in REGION. */
export async function newBucket(account: Account): Promise<string> {
  const bucket = `ec2r-test-${randomBytes(6).toString('hex')}`;
  await account.aws.s3.send(
    new CreateBucketCommand({ Bucket: bucket, CreateBucketConfiguration: { LocationConstraint: REGION } }),
  );
  return bucket;
}

/** An instance of the account, with its reservation's owner. */
export async function describeInstance(
  account: Account,
  instanceId: string,
): Promise<{ instance: Instance | undefined; ownerId: string | undefined }> {
  const { Reservations = [] } = await account.aws.ec2.send(
    new DescribeInstancesCommand({ InstanceIds: [instanceId] }),
  );
  return { instance: Reservations[0]?.Instances?.[0], ownerId: Reservations[0]?.OwnerId };
}

/**
 * Waits until a volume is in `state` (a new volume is `creating` for a moment, and its id may answer
 * InvalidVolume.NotFound right after CreateVolume, as in AWS); AttachVolume wants it `available`.
 */
export async function volumeInState(
  account: Account,
  volumeId: string,
  state = 'available',
  timeoutMs = 15_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const current = await account.aws.ec2.send(new DescribeVolumesCommand({ VolumeIds: [volumeId] })).then(
      (out) => out.Volumes?.[0]?.State,
      (error: Error) => {
        if (error.name === 'InvalidVolume.NotFound') return undefined;
        throw error;
      },
    );
    if (current === state) return;
    if (Date.now() > deadline)
      throw new Error(`volume ${volumeId} not ${state} within ${timeoutMs} ms (${current})`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/**
 * A completed snapshot of a new 2 GiB volume of the account in ZONE (encrypted with `kmsKeyArn` when
 * given), taken once the volume is available.
 */
export async function newVolumeSnapshot(account: Account, kmsKeyArn?: string): Promise<string> {
  const encryption = kmsKeyArn ? { Encrypted: true, KmsKeyId: kmsKeyArn } : {};
  const { VolumeId } = await account.aws.ec2.send(
    new CreateVolumeCommand({ AvailabilityZone: ZONE, Size: 2, ...encryption }),
  );
  await volumeInState(account, VolumeId!);
  const { SnapshotId } = await account.aws.ec2.send(new CreateSnapshotCommand({ VolumeId }));
  // Pending for a while, as on AWS; its id may answer NotFound at first.
  await untilSnapshotCompleted(account.aws.ec2, SnapshotId!);
  return SnapshotId!;
}
