import { randomUUID } from 'node:crypto';
import {
  AttachVolumeCommand,
  CreateSnapshotCommand,
  CreateSubnetCommand,
  CreateVolumeCommand,
  CreateVpcCommand,
  DeleteSnapshotCommand,
  DescribeInstancesCommand,
  DescribeSnapshotsCommand,
  DescribeVolumesCommand,
  EnableEbsEncryptionByDefaultCommand,
  GetEbsDefaultKmsKeyIdCommand,
  ModifyEbsDefaultKmsKeyIdCommand,
  RunInstancesCommand,
} from '@aws-sdk/client-ec2';
import { DescribeKeyCommand } from '@aws-sdk/client-kms';
import { GetCallerIdentityCommand } from '@aws-sdk/client-sts';
import type { AwsClients } from '@ec2-restore/aws-clients';
import { onceVisible } from '@ec2-restore/local-aws';
import { describe, expect, it } from 'vitest';
import {
  type Account,
  amazonImageId,
  assumedRoleClients,
  createKey,
  createRestoreRole,
  eventually,
  expectAwsError,
  keyUsableBy,
  newAccount,
  shareSnapshot,
  ZONE,
} from '../support/index.ts';

// docs/architecture.md#the-two-flows, "Another account", done by hand through the SDK against the emulator.

/** Source account steps 1-3: an encrypted volume with the region's default key, and its snapshot. */
async function snapshotWithDefaultKey(source: Account): Promise<{ snapshotId: string; keyArn: string }> {
  const { ec2 } = source.aws;
  await ec2.send(new EnableEbsEncryptionByDefaultCommand({}));
  const keyArn = (await ec2.send(new GetEbsDefaultKmsKeyIdCommand({}))).KmsKeyId!;
  const volume = await ec2.send(new CreateVolumeCommand({ AvailabilityZone: ZONE, Size: 2 }));
  expect(volume).toMatchObject({ Encrypted: true, KmsKeyId: keyArn });
  const snapshot = await onceVisible(() =>
    ec2.send(new CreateSnapshotCommand({ VolumeId: volume.VolumeId! })),
  );
  return { snapshotId: snapshot.SnapshotId!, keyArn };
}

async function newInstance(target: AwsClients): Promise<string> {
  const vpc = await target.ec2.send(new CreateVpcCommand({ CidrBlock: '10.20.0.0/16' }));
  const subnet = await target.ec2.send(
    new CreateSubnetCommand({ VpcId: vpc.Vpc!.VpcId!, CidrBlock: '10.20.1.0/24', AvailabilityZone: ZONE }),
  );
  const run = await target.ec2.send(
    new RunInstancesCommand({
      ImageId: await amazonImageId(target.ec2),
      InstanceType: 't3.micro',
      MinCount: 1,
      MaxCount: 1,
      SubnetId: subnet.Subnet!.SubnetId!,
    }),
  );
  return run.Instances![0]!.InstanceId!;
}

/** CreateVolume from a (shared) snapshot, re-encrypted with `keyArn`. */
function reEncrypted(snapshotId: string, keyArn: string): CreateVolumeCommand {
  return new CreateVolumeCommand({
    AvailabilityZone: ZONE,
    SnapshotId: snapshotId,
    Encrypted: true,
    KmsKeyId: keyArn,
  });
}

describe('restore into another account (docs/architecture.md#the-two-flows)', () => {
  it('source default key is customer managed and names the target: share, assume role, re-encrypt, attach', async () => {
    const source = newAccount();
    const target = newAccount();
    const externalId = randomUUID();

    // The source default key: customer managed, its policy lets the target account use it for EBS.
    const sourceKeyArn = await keyUsableBy(source, target.rootArn);
    await source.aws.ec2.send(new ModifyEbsDefaultKmsKeyIdCommand({ KmsKeyId: sourceKeyArn }));
    const { snapshotId, keyArn } = await snapshotWithDefaultKey(source);
    expect(keyArn).toBe(sourceKeyArn);
    await shareSnapshot(source, snapshotId, target.id); // step 4

    // The restore role in the target account; the source account assumes it with the ExternalId.
    const roleArn = await createRestoreRole(target, source.id, externalId);
    const restore = assumedRoleClients(source, roleArn, externalId);
    expect((await restore.sts.send(new GetCallerIdentityCommand({}))).Account).toBe(target.id);
    const targetKey = await createKey(target); // default policy: the target account's IAM decides

    // The restore role may use the source default key (its policy names the target account).
    const described = await restore.kms.send(new DescribeKeyCommand({ KeyId: sourceKeyArn }));
    expect(described.KeyMetadata!.KeyManager).toBe('CUSTOMER');

    const instanceId = await newInstance(restore); // step 5
    // A new share shows in the other account after a moment.
    const shared = await onceVisible(() =>
      restore.ec2.send(new DescribeSnapshotsCommand({ SnapshotIds: [snapshotId] })),
    );
    expect(shared.Snapshots![0]).toMatchObject({
      OwnerId: source.id,
      Encrypted: true,
      KmsKeyId: sourceKeyArn,
    });

    // Step 6: a volume from the shared snapshot, re-encrypted with the target key, attached.
    const volume = await restore.ec2.send(reEncrypted(snapshotId, targetKey.Arn));
    expect(volume).toMatchObject({ State: 'creating', KmsKeyId: targetKey.Arn, Size: 2 });
    await eventually(async () => {
      const out = await onceVisible(() =>
        restore.ec2.send(new DescribeVolumesCommand({ VolumeIds: [volume.VolumeId!] })),
      );
      return out.Volumes![0]!.State === 'available' ? true : undefined;
    });
    await restore.ec2.send(
      new AttachVolumeCommand({ VolumeId: volume.VolumeId!, InstanceId: instanceId, Device: '/dev/xvdb' }),
    );
    const instance = await restore.ec2.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }));
    const mappings = instance.Reservations![0]!.Instances![0]!.BlockDeviceMappings!;
    expect(mappings.find((m) => m.DeviceName === '/dev/xvdb')?.Ebs?.VolumeId).toBe(volume.VolumeId);
    // After EBS checked the keys the volume is still there, attached, with the target key.
    await new Promise((r) => setTimeout(r, 2_500));
    const restored = await restore.ec2.send(new DescribeVolumesCommand({ VolumeIds: [volume.VolumeId!] }));
    expect(restored.Volumes![0]).toMatchObject({ State: 'in-use', Encrypted: true, KmsKeyId: targetKey.Arn });

    // Afterwards the share is withdrawn and the source snapshot removed.
    await shareSnapshot(source, snapshotId, target.id, 'Remove');
    await expectAwsError(
      restore.ec2.send(new DescribeSnapshotsCommand({ SnapshotIds: [snapshotId] })),
      'InvalidSnapshot.NotFound',
      `The snapshot '${snapshotId}' does not exist.`,
    );
    await source.aws.ec2.send(new DeleteSnapshotCommand({ SnapshotId: snapshotId }));
  });

  it('source default key aws/ebs: the share fails with OperationNotPermitted', async () => {
    const source = newAccount();
    const target = newAccount();
    const { snapshotId, keyArn } = await snapshotWithDefaultKey(source);
    const key = await source.aws.kms.send(new DescribeKeyCommand({ KeyId: keyArn }));
    expect(key.KeyMetadata!.KeyManager).toBe('AWS');
    await expectAwsError(
      shareSnapshot(source, snapshotId, target.id),
      'OperationNotPermitted',
      'Encrypted snapshots with EBS default key cannot be shared',
    );
  });

  it('a target account the source key policy does not name: AccessDeniedException on the source key, and its volume disappears', async () => {
    const source = newAccount();
    const target = newAccount();
    const externalId = randomUUID();
    const sourceKey = await createKey(source); // default policy: only the source account
    await source.aws.ec2.send(new ModifyEbsDefaultKmsKeyIdCommand({ KmsKeyId: sourceKey.Arn! }));
    const { snapshotId } = await snapshotWithDefaultKey(source);
    await shareSnapshot(source, snapshotId, target.id);

    const roleArn = await createRestoreRole(target, source.id, externalId);
    const restore = assumedRoleClients(source, roleArn, externalId);
    const sessionArn = (await restore.sts.send(new GetCallerIdentityCommand({}))).Arn!;
    await expectAwsError(
      restore.kms.send(new DescribeKeyCommand({ KeyId: sourceKey.Arn! })),
      'AccessDeniedException',
      `User: ${sessionArn} is not authorized to perform: kms:DescribeKey on resource: ${sourceKey.Arn} because no resource-based policy allows the kms:DescribeKey action`,
    );

    const targetKey = await createKey(target);
    const volume = await onceVisible(() => restore.ec2.send(reEncrypted(snapshotId, targetKey.Arn)));
    expect(volume.State).toBe('creating');
    // Visible first (a new id answers NotFound for a moment), then gone.
    await onceVisible(() => restore.ec2.send(new DescribeVolumesCommand({ VolumeIds: [volume.VolumeId!] })));
    const gone = await eventually(async () => {
      try {
        await restore.ec2.send(new DescribeVolumesCommand({ VolumeIds: [volume.VolumeId!] }));
        return undefined;
      } catch (err) {
        return err as Error;
      }
    });
    expect(gone.name).toBe('InvalidVolume.NotFound');
  });
});
