import { StartSnapshotCommand } from '@aws-sdk/client-ebs';
import {
  CreateSnapshotCommand,
  CreateTagsCommand,
  CreateVolumeCommand,
  DescribeImagesCommand,
  DescribeInstancesCommand,
  DescribeSnapshotsCommand,
  DescribeVolumesCommand,
  ModifySnapshotAttributeCommand,
  RegisterImageCommand,
  RunInstancesCommand,
} from '@aws-sdk/client-ec2';
import { CreateGrantCommand, CreateKeyCommand, GenerateDataKeyCommand } from '@aws-sdk/client-kms';
import { type AwsClients, createAwsClients } from '@ec2-restore/aws-clients';
import {
  credentialsForAccount,
  type RunningEmulator,
  randomAccountId,
  startEmulator,
} from '@ec2-restore/local-aws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  amazonImageId,
  eventually,
  expectAwsError,
  newAccount,
  putBlock,
  REGION,
  ZONE,
} from '../support/index.ts';

// "Amazon EC2 API follows an eventual consistency model ... the results of an API command you run
// might not be immediately visible to all subsequent commands you run"
// (https://docs.aws.amazon.com/ec2/latest/devguide/eventual-consistency.html): a new id may answer
// Invalid*.NotFound for a moment; EBS direct answers "snapshot does not exist" right after
// StartSnapshot, and EC2 does not know that snapshot for a moment either. A new KMS grant is usable at once only with its grant token
// (https://docs.aws.amazon.com/kms/latest/developerguide/grant-tokens.html). Plain moto 5.2.1
// answers every new id, grant and share at once.
//
// The window is EC2RESTORE_EMULATOR_CONSISTENCY_MS, on by default (200-400 ms per id: every test runs
// with it); this file runs its own emulator with a window long enough (1.5-3 s per id) for the first
// answer to be the NotFound even on a loaded machine, and checks the default on the shared one.

const WINDOW_MS = 3000;
let emulator: RunningEmulator;
const opened: AwsClients[] = [];

beforeAll(async () => {
  const previous = process.env.EC2RESTORE_EMULATOR_CONSISTENCY_MS;
  process.env.EC2RESTORE_EMULATOR_CONSISTENCY_MS = String(WINDOW_MS);
  try {
    emulator = await startEmulator();
  } finally {
    if (previous === undefined) delete process.env.EC2RESTORE_EMULATOR_CONSISTENCY_MS;
    else process.env.EC2RESTORE_EMULATOR_CONSISTENCY_MS = previous;
  }
});
afterAll(async () => {
  for (const clients of opened) clients.destroy();
  await emulator?.stop();
});

async function account(): Promise<{ id: string; aws: AwsClients }> {
  const id = randomAccountId();
  const aws = createAwsClients({
    region: REGION,
    endpoint: emulator.endpoint,
    credentials: credentialsForAccount(id),
    maxAttempts: 1,
  });
  opened.push(aws);
  // moto loads an account's AMI catalogue on its first EC2 call: do that before the timed part.
  await aws.ec2.send(new DescribeVolumesCommand({}));
  return { id, aws };
}

/** `call` succeeds within the window. */
async function succeedsWithinWindow(call: () => Promise<unknown>): Promise<void> {
  const succeeded = () =>
    call().then(
      () => true,
      () => undefined,
    );
  await eventually(succeeded, WINDOW_MS * 3);
}

/** `call` answers `code` at first, and succeeds within the window. */
async function notFoundThenFound(call: () => Promise<unknown>, code: string, message: string): Promise<void> {
  await expectAwsError(call(), code, message);
  await succeedsWithinWindow(call);
}

describe('eventual consistency of new ids', () => {
  it('a new volume: DescribeVolumes and CreateTags answer InvalidVolume.NotFound for a moment', async () => {
    const { aws } = await account();
    const { VolumeId } = await aws.ec2.send(new CreateVolumeCommand({ AvailabilityZone: ZONE, Size: 1 }));
    const notFound = `The volume '${VolumeId}' does not exist.`;
    await expectAwsError(
      aws.ec2.send(new CreateTagsCommand({ Resources: [VolumeId!], Tags: [{ Key: 'k', Value: 'v' }] })),
      'InvalidVolume.NotFound',
      notFound,
    );
    await notFoundThenFound(
      () => aws.ec2.send(new DescribeVolumesCommand({ VolumeIds: [VolumeId!] })),
      'InvalidVolume.NotFound',
      notFound,
    );
  });

  it('a new instance, snapshot and image likewise', async () => {
    const { aws } = await account();
    const run = await aws.ec2.send(
      new RunInstancesCommand({
        ImageId: await amazonImageId(aws.ec2),
        InstanceType: 't3.micro',
        MinCount: 1,
        MaxCount: 1,
      }),
    );
    const instanceId = run.Instances![0]!.InstanceId!;
    await notFoundThenFound(
      () => aws.ec2.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] })),
      'InvalidInstanceID.NotFound',
      `The instance ID '${instanceId}' does not exist`,
    );

    const { VolumeId } = await aws.ec2.send(new CreateVolumeCommand({ AvailabilityZone: ZONE, Size: 1 }));
    await eventually(() =>
      aws.ec2.send(new DescribeVolumesCommand({ VolumeIds: [VolumeId!] })).then(
        (out) => (out.Volumes?.[0]?.State === 'available' ? true : undefined),
        () => undefined,
      ),
    );
    const { SnapshotId } = await aws.ec2.send(new CreateSnapshotCommand({ VolumeId }));
    await notFoundThenFound(
      () => aws.ec2.send(new DescribeSnapshotsCommand({ SnapshotIds: [SnapshotId!] })),
      'InvalidSnapshot.NotFound',
      `The snapshot '${SnapshotId}' does not exist.`,
    );

    const { ImageId } = await aws.ec2.send(
      new RegisterImageCommand({
        Name: `consistency-${Date.now()}`,
        RootDeviceName: '/dev/xvda',
        BlockDeviceMappings: [{ DeviceName: '/dev/xvda', Ebs: { SnapshotId } }],
      }),
    );
    await notFoundThenFound(
      () => aws.ec2.send(new DescribeImagesCommand({ ImageIds: [ImageId!] })),
      'InvalidAMIID.NotFound',
      `The image id '[${ImageId}]' does not exist`,
    );
  });

  it('a snapshot shared with another account shows up there after a moment', async () => {
    const owner = await account();
    const other = await account();
    const { VolumeId } = await owner.aws.ec2.send(
      new CreateVolumeCommand({ AvailabilityZone: ZONE, Size: 1 }),
    );
    await new Promise((r) => setTimeout(r, WINDOW_MS));
    const { SnapshotId } = await owner.aws.ec2.send(new CreateSnapshotCommand({ VolumeId }));
    await new Promise((r) => setTimeout(r, WINDOW_MS));
    await owner.aws.ec2.send(
      new ModifySnapshotAttributeCommand({
        SnapshotId,
        Attribute: 'createVolumePermission',
        CreateVolumePermission: { Add: [{ UserId: other.id }] },
      }),
    );
    await notFoundThenFound(
      () => other.aws.ec2.send(new DescribeSnapshotsCommand({ SnapshotIds: [SnapshotId!] })),
      'InvalidSnapshot.NotFound',
      `The snapshot '${SnapshotId}' does not exist.`,
    );
  });

  it('EBS direct: a new snapshot does not exist for PutSnapshotBlock for a moment after StartSnapshot', async () => {
    const { aws } = await account();
    const { SnapshotId } = await aws.ebs.send(new StartSnapshotCommand({ VolumeSize: 1 }));
    const block = Buffer.alloc(524288, 5);
    const put = () => putBlock(aws.ebs, SnapshotId!, 0, block);
    await notFoundThenFound(put, 'ResourceNotFoundException', `The snapshot '${SnapshotId}' does not exist.`);
  });

  it('EBS direct: EC2 does not know a snapshot StartSnapshot made for a moment either', async () => {
    const { aws } = await account();
    const { SnapshotId } = await aws.ebs.send(new StartSnapshotCommand({ VolumeSize: 1 }));
    const notFound = `The snapshot '${SnapshotId}' does not exist.`;
    const share = () =>
      aws.ec2.send(
        new ModifySnapshotAttributeCommand({
          SnapshotId,
          Attribute: 'createVolumePermission',
          OperationType: 'add',
          UserIds: [randomAccountId()],
        }),
      );
    await expectAwsError(share(), 'InvalidSnapshot.NotFound', notFound);
    await notFoundThenFound(
      () => aws.ec2.send(new DescribeSnapshotsCommand({ SnapshotIds: [SnapshotId!] })),
      'InvalidSnapshot.NotFound',
      notFound,
    );
    await succeedsWithinWindow(share);
  });

  it('a new grant works at once with its grant token, without it only after a moment', async () => {
    const owner = await account();
    const grantee = await account();
    const { KeyMetadata } = await owner.aws.kms.send(new CreateKeyCommand({}));
    const { GrantToken } = await owner.aws.kms.send(
      new CreateGrantCommand({
        KeyId: KeyMetadata!.KeyId!,
        GranteePrincipal: `arn:aws:iam::${grantee.id}:root`,
        Operations: ['GenerateDataKey'],
      }),
    );
    const generate = (tokens?: string[]) =>
      grantee.aws.kms.send(
        new GenerateDataKeyCommand({
          KeyId: KeyMetadata!.Arn!,
          KeySpec: 'AES_256',
          ...(tokens ? { GrantTokens: tokens } : {}),
        }),
      );
    await expectAwsError(generate(), 'AccessDeniedException');
    const withToken = await generate([GrantToken!]);
    expect(withToken.KeyId).toBe(KeyMetadata!.Arn);
    await succeedsWithinWindow(() => generate());
  });
});

describe('on by default', () => {
  it('the emulator every test runs on hides a new volume id for a moment', async () => {
    const { aws } = newAccount();
    await aws.ec2.send(new DescribeVolumesCommand({}));
    // 200-400 ms per id: a describe right after the create lands inside it unless the machine stalls,
    // so a few tries are enough to see it.
    const answers: string[] = [];
    for (let i = 0; i < 3 && !answers.includes('InvalidVolume.NotFound'); i++) {
      const { VolumeId } = await aws.ec2.send(new CreateVolumeCommand({ AvailabilityZone: ZONE, Size: 1 }));
      answers.push(
        await aws.ec2.send(new DescribeVolumesCommand({ VolumeIds: [VolumeId!] })).then(
          () => 'found',
          (error: Error) => error.name,
        ),
      );
    }
    expect(answers).toContain('InvalidVolume.NotFound');
  });
});
