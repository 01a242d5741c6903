import {
  DescribeImagesCommand,
  DescribeInstancesCommand,
  DescribeVolumesCommand,
  RegisterImageCommand,
  RunInstancesCommand,
} from '@aws-sdk/client-ec2';
import { type Parameter, paginateGetParametersByPath } from '@aws-sdk/client-ssm';
import { onceVisible } from '@ec2-restore/local-aws';
import { describe, expect, it } from 'vitest';
import { createKey, newAccount, newVolumeSnapshot } from '../support/index.ts';

// AWS's public base images (packages/local-aws/emulator/ec2restore_emulator/public_images.py): SSM
// public parameters name the latest Windows images
// (https://docs.aws.amazon.com/systems-manager/latest/userguide/parameter-store-public-parameters-ami.html),
// catalogue images bill and boot as AWS documents
// (https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/billing-info-fields.html), RegisterImage keeps
// its tags and RunInstances merges its mappings over the image's
// (https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/block-device-mapping-concepts.html).

/** The SSM public parameters of the latest Windows images. */
const WINDOWS_LATEST = '/aws/service/ami-windows-latest';

describe('public base images', () => {
  it('ami-windows-latest names Windows images: the base edition bills Windows, SQL Server editions their own', async () => {
    const account = newAccount();
    const Parameters: Parameter[] = [];
    const input = { Path: WINDOWS_LATEST, Recursive: true };
    for await (const page of paginateGetParametersByPath({ client: account.aws.ssm }, input)) {
      Parameters.push(...(page.Parameters ?? []));
    }
    const byName = new Map(Parameters.map((p) => [p.Name?.split('/').at(-1), p.Value]));
    expect(byName.has('Windows_Server-2016-English-Full-Base')).toBe(true);
    const base = byName.get('Windows_Server-2016-English-Full-Base') ?? '';
    const sql = byName.get('Windows_Server-2016-English-Full-SQL_2017_Standard') ?? '';
    const { Images = [] } = await account.aws.ec2.send(new DescribeImagesCommand({ ImageIds: [base, sql] }));
    const image = (id: string) => Images.find((i) => i.ImageId === id);
    expect(image(base)).toMatchObject({
      PlatformDetails: 'Windows',
      UsageOperation: 'RunInstances:0002',
      BootMode: 'legacy-bios',
    });
    expect(image(sql)).toMatchObject({
      PlatformDetails: 'Windows with SQL Server Standard',
      UsageOperation: 'RunInstances:0006',
    });
    account.aws.destroy();
  });

  it('RegisterImage keeps its tags; RunInstances overrides the root mapping it names and keeps the image snapshot', async () => {
    const account = newAccount();
    const { ec2 } = account.aws;
    const key = await createKey(account);
    const SnapshotId = await newVolumeSnapshot(account);
    // New ids (the snapshot, the image, the instance) answer NotFound for a moment, as in AWS.
    const { ImageId } = await onceVisible(() =>
      ec2.send(
        new RegisterImageCommand({
          Name: `merge-${account.id}`,
          RootDeviceName: '/dev/xvda',
          VirtualizationType: 'hvm',
          EnaSupport: true,
          BlockDeviceMappings: [{ DeviceName: '/dev/xvda', Ebs: { SnapshotId, VolumeSize: 2 } }],
          TagSpecifications: [{ ResourceType: 'image', Tags: [{ Key: 'owner', Value: 'restore-1' }] }],
        }),
      ),
    );
    const { Images = [] } = await ec2.send(
      new DescribeImagesCommand({
        Owners: ['self'],
        Filters: [{ Name: 'tag:owner', Values: ['restore-1'] }],
      }),
    );
    expect(Images.map((i) => i.ImageId)).toEqual([ImageId]);

    const { Instances = [] } = await onceVisible(() =>
      ec2.send(
        new RunInstancesCommand({
          ImageId,
          InstanceType: 't3.micro',
          MinCount: 1,
          MaxCount: 1,
          BlockDeviceMappings: [
            {
              DeviceName: '/dev/xvda',
              Ebs: { Encrypted: true, KmsKeyId: key.Arn, DeleteOnTermination: true },
            },
          ],
        }),
      ),
    );
    const { Reservations = [] } = await onceVisible(() =>
      ec2.send(new DescribeInstancesCommand({ InstanceIds: [Instances[0]?.InstanceId ?? ''] })),
    );
    const mappings = Reservations[0]?.Instances?.[0]?.BlockDeviceMappings ?? [];
    expect(mappings.map((m) => m.DeviceName)).toEqual(['/dev/xvda']);
    const { Volumes = [] } = await onceVisible(() =>
      ec2.send(new DescribeVolumesCommand({ VolumeIds: [mappings[0]?.Ebs?.VolumeId ?? ''] })),
    );
    expect(Volumes[0]).toMatchObject({ SnapshotId, Size: 2, Encrypted: true, KmsKeyId: key.Arn });
    account.aws.destroy();
  });
});
