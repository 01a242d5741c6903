import {
  DescribeImagesCommand,
  DescribeInstancesCommand,
  DescribeVolumesCommand,
  RegisterImageCommand,
  RunInstancesCommand,
  type Tag,
} from '@aws-sdk/client-ec2';
import { DisableKeyCommand } from '@aws-sdk/client-kms';
import { onceVisible } from '@ec2-restore/local-aws';
import { describe, expect, it } from 'vitest';
import {
  type Account,
  createKey,
  eventually,
  expectAwsError,
  newAccount,
  newVolumeSnapshot,
} from '../support/index.ts';

// RegisterImage keeps what it is given (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_RegisterImage.html)
// and DescribeImages reports PlatformDetails / UsageOperation
// (https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/billing-info-fields.html); an instance type
// that requires ENA refuses an image without it
// (https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/enhanced-networking-ena.html); a launch whose
// root volume key is unusable ends terminated with Client.InvalidKMSKey.InvalidState
// (https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/troubleshooting-launch.html#troubleshooting-launch-internal).
// Plain moto 5.2.1 keeps only Name and Description, launches any image on any type, and runs an
// instance whatever its root volume key.

async function register(
  account: Account,
  snapshotId: string,
  keyArn: string,
  ena: boolean,
  tags: Tag[] = [],
) {
  // New ids (the snapshot here, the image and instance below) answer NotFound for a moment.
  const { ImageId } = await onceVisible(() =>
    account.aws.ec2.send(
      new RegisterImageCommand({
        Name: `restored-${Date.now()}-${ena}`,
        Architecture: 'arm64',
        BootMode: 'uefi',
        EnaSupport: ena,
        ImdsSupport: 'v2.0',
        RootDeviceName: '/dev/xvda',
        VirtualizationType: 'hvm',
        BlockDeviceMappings: [
          {
            DeviceName: '/dev/xvda',
            Ebs: { SnapshotId: snapshotId, Encrypted: true, KmsKeyId: keyArn, DeleteOnTermination: true },
          },
        ],
        ...(tags.length > 0 ? { TagSpecifications: [{ ResourceType: 'image', Tags: tags }] } : {}),
      }),
    ),
  );
  return ImageId!;
}

describe('images and launches', () => {
  it('RegisterImage keeps its attributes; DescribeImages and the instance report them', async () => {
    const account = newAccount();
    const key = await createKey(account);
    const snapshotId = await newVolumeSnapshot(account, key.Arn!);
    const imageId = await register(account, snapshotId, key.Arn!, true);
    const { Images = [] } = await onceVisible(() =>
      account.aws.ec2.send(new DescribeImagesCommand({ ImageIds: [imageId] })),
    );
    const image = Images[0]!;
    expect({
      Architecture: image.Architecture,
      BootMode: image.BootMode,
      EnaSupport: image.EnaSupport,
      ImdsSupport: image.ImdsSupport,
      RootDeviceName: image.RootDeviceName,
      VirtualizationType: image.VirtualizationType,
      PlatformDetails: image.PlatformDetails,
      UsageOperation: image.UsageOperation,
    }).toEqual({
      Architecture: 'arm64',
      BootMode: 'uefi',
      EnaSupport: true,
      ImdsSupport: 'v2.0',
      RootDeviceName: '/dev/xvda',
      VirtualizationType: 'hvm',
      PlatformDetails: 'Linux/UNIX',
      UsageOperation: 'RunInstances',
    });
    expect(image.BlockDeviceMappings).toEqual([
      {
        DeviceName: '/dev/xvda',
        Ebs: expect.objectContaining({
          SnapshotId: snapshotId,
          Encrypted: true,
          KmsKeyId: key.Arn,
          DeleteOnTermination: true,
        }),
      },
    ]);

    const run = await account.aws.ec2.send(
      new RunInstancesCommand({ ImageId: imageId, InstanceType: 't4g.micro', MinCount: 1, MaxCount: 1 }),
    );
    const instanceId = run.Instances![0]!.InstanceId!;
    const { Reservations = [] } = await onceVisible(() =>
      account.aws.ec2.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] })),
    );
    const instance = Reservations[0]!.Instances![0]!;
    // Without BlockDeviceMappings in the request the launch gets the image's: its root device, from its
    // snapshot (moto alone gives a blank 8 GiB /dev/sda1).
    const root = instance.BlockDeviceMappings!.map((m) => m.DeviceName);
    expect(root).toEqual(['/dev/xvda']);
    const { Volumes = [] } = await onceVisible(() =>
      account.aws.ec2.send(
        new DescribeVolumesCommand({ VolumeIds: [instance.BlockDeviceMappings![0]!.Ebs!.VolumeId!] }),
      ),
    );
    expect(Volumes[0]).toMatchObject({ SnapshotId: snapshotId, Size: 2, Encrypted: true, KmsKeyId: key.Arn });
    expect({
      BootMode: instance.BootMode,
      EnaSupport: instance.EnaSupport,
      Architecture: instance.Architecture,
      PlatformDetails: instance.PlatformDetails,
    }).toEqual({ BootMode: 'uefi', EnaSupport: true, Architecture: 'arm64', PlatformDetails: 'Linux/UNIX' });
  });

  it('RegisterImage keeps its tags; RunInstances overrides the root mapping it names and keeps the image snapshot', async () => {
    // The register-image launch strategy finds its image by tag and maps the root with the target key
    // (https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/block-device-mapping-concepts.html).
    const account = newAccount();
    const [imageKey, launchKey] = [await createKey(account), await createKey(account)];
    const snapshotId = await newVolumeSnapshot(account, imageKey.Arn!);
    const owner = `restore-${account.id}`;
    const imageId = await register(account, snapshotId, imageKey.Arn!, true, [
      { Key: 'owner', Value: owner },
    ]);
    const { Images = [] } = await account.aws.ec2.send(
      new DescribeImagesCommand({ Owners: ['self'], Filters: [{ Name: 'tag:owner', Values: [owner] }] }),
    );
    expect(Images.map((i) => i.ImageId)).toEqual([imageId]);

    const { Instances = [] } = await onceVisible(() =>
      account.aws.ec2.send(
        new RunInstancesCommand({
          ImageId: imageId,
          InstanceType: 't4g.micro',
          MinCount: 1,
          MaxCount: 1,
          BlockDeviceMappings: [
            {
              DeviceName: '/dev/xvda',
              Ebs: { Encrypted: true, KmsKeyId: launchKey.Arn, DeleteOnTermination: false },
            },
          ],
        }),
      ),
    );
    const { Reservations = [] } = await onceVisible(() =>
      account.aws.ec2.send(new DescribeInstancesCommand({ InstanceIds: [Instances[0]?.InstanceId ?? ''] })),
    );
    const mappings = Reservations[0]?.Instances?.[0]?.BlockDeviceMappings ?? [];
    expect(mappings.map((m) => [m.DeviceName, m.Ebs?.DeleteOnTermination])).toEqual([['/dev/xvda', false]]);
    const { Volumes = [] } = await onceVisible(() =>
      account.aws.ec2.send(new DescribeVolumesCommand({ VolumeIds: [mappings[0]?.Ebs?.VolumeId ?? ''] })),
    );
    // Attached at launch (API_BlockDeviceMapping.html): `in-use` as soon as its instance runs, never
    // the `creating` of a volume of its own (CreateVolume).
    expect(Volumes[0]).toMatchObject({
      SnapshotId: snapshotId,
      Size: 2,
      Encrypted: true,
      KmsKeyId: launchKey.Arn,
      State: 'in-use',
    });
  });

  it('an instance type that requires ENA refuses an image without it', async () => {
    const account = newAccount();
    const key = await createKey(account);
    const snapshotId = await newVolumeSnapshot(account, key.Arn!);
    const imageId = await register(account, snapshotId, key.Arn!, false);
    await expectAwsError(
      onceVisible(() =>
        account.aws.ec2.send(
          new RunInstancesCommand({ ImageId: imageId, InstanceType: 't3.micro', MinCount: 1, MaxCount: 1 }),
        ),
      ),
      'InvalidParameterCombination',
      "Enhanced networking with the Elastic Network Adapter (ENA) is required for the 't3.micro' instance type. Ensure that you are using an AMI that is enabled for ENA.",
    );
    const { Reservations = [] } = await account.aws.ec2.send(new DescribeInstancesCommand({}));
    expect(Reservations).toHaveLength(0);
  });

  it('a launch whose root volume key is unusable: pending, then terminated with Client.InvalidKMSKey.InvalidState', async () => {
    const account = newAccount();
    const key = await createKey(account);
    const snapshotId = await newVolumeSnapshot(account, key.Arn!);
    const imageId = await register(account, snapshotId, key.Arn!, true);
    await account.aws.kms.send(new DisableKeyCommand({ KeyId: key.KeyId! }));
    const run = await onceVisible(() =>
      account.aws.ec2.send(
        new RunInstancesCommand({ ImageId: imageId, InstanceType: 't3.micro', MinCount: 1, MaxCount: 1 }),
      ),
    );
    const launched = run.Instances![0]!;
    expect(launched.State?.Name).toBe('pending');
    const terminated = await eventually(async () => {
      const { Reservations = [] } = await onceVisible(() =>
        account.aws.ec2.send(new DescribeInstancesCommand({ InstanceIds: [launched.InstanceId!] })),
      );
      const instance = Reservations[0]?.Instances?.[0];
      expect(instance?.State?.Name).not.toBe('running');
      return instance?.State?.Name === 'terminated' ? instance : undefined;
    });
    expect(terminated.StateReason).toEqual({
      Code: 'Client.InvalidKMSKey.InvalidState',
      Message: 'Client.InvalidKMSKey.InvalidState: The KMS key provided is in an incorrect state',
    });
  });
});
