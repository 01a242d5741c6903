import {
  CreateSnapshotCommand,
  CreateVolumeCommand,
  DescribeSnapshotsCommand,
  DescribeVolumesCommand,
  EnableEbsEncryptionByDefaultCommand,
  GetEbsDefaultKmsKeyIdCommand,
  ModifyEbsDefaultKmsKeyIdCommand,
  ResetEbsDefaultKmsKeyIdCommand,
} from '@aws-sdk/client-ec2';
import { CreateAliasCommand, DescribeKeyCommand } from '@aws-sdk/client-kms';
import { onceVisible } from '@ec2-restore/local-aws';
import { describe, expect, it } from 'vitest';
import { createKey, newAccount, ZONE } from '../support/index.ts';

// docs/architecture.md#what-the-emulator-adds-to-moto: the EBS default key, AWS-managed keys, KmsKeyId on volumes and snapshots.
describe('EBS default KMS key', () => {
  it('GetEbsDefaultKmsKeyId answers the AWS managed alias/aws/ebs key until ModifyEbsDefaultKmsKeyId; Reset goes back', async () => {
    const account = newAccount();
    const { ec2, kms } = account.aws;
    const initial = await ec2.send(new GetEbsDefaultKmsKeyIdCommand({}));
    const awsEbs = await kms.send(new DescribeKeyCommand({ KeyId: 'alias/aws/ebs' }));
    expect(initial.KmsKeyId).toBe(awsEbs.KeyMetadata!.Arn);
    expect(initial.KmsKeyId).toMatch(new RegExp(`^arn:aws:kms:eu-west-1:${account.id}:key/`));

    const customer = await createKey(account);
    await ec2.send(new ModifyEbsDefaultKmsKeyIdCommand({ KmsKeyId: customer.KeyId! }));
    expect((await ec2.send(new GetEbsDefaultKmsKeyIdCommand({}))).KmsKeyId).toBe(customer.Arn);

    const reset = await ec2.send(new ResetEbsDefaultKmsKeyIdCommand({}));
    expect(reset.KmsKeyId).toBe(awsEbs.KeyMetadata!.Arn);
    expect((await ec2.send(new GetEbsDefaultKmsKeyIdCommand({}))).KmsKeyId).toBe(awsEbs.KeyMetadata!.Arn);
  });

  it('CreateVolume honours EnableEbsEncryptionByDefault: encrypted with the default key when Encrypted is not given', async () => {
    const account = newAccount();
    const { ec2 } = account.aws;
    const customer = await createKey(account);
    await ec2.send(new EnableEbsEncryptionByDefaultCommand({}));
    await ec2.send(new ModifyEbsDefaultKmsKeyIdCommand({ KmsKeyId: customer.Arn! }));

    const volume = await ec2.send(new CreateVolumeCommand({ AvailabilityZone: ZONE, Size: 1 }));
    expect(volume.Encrypted).toBe(true);
    expect(volume.KmsKeyId).toBe(customer.Arn);
  });
});

describe('AWS managed keys', () => {
  it('DescribeKey reports KeyManager AWS for the key behind alias/aws/ebs, CUSTOMER for a key the account made', async () => {
    const account = newAccount();
    const { kms } = account.aws;
    const awsEbs = await kms.send(new DescribeKeyCommand({ KeyId: 'alias/aws/ebs' }));
    expect(awsEbs.KeyMetadata!.KeyManager).toBe('AWS');
    const customer = await createKey(account);
    expect(customer.KeyManager).toBe('CUSTOMER');
  });
});

describe('KmsKeyId on volumes and snapshots', () => {
  it('a volume reports its key as a key ARN when given an alias or key id, and its snapshot carries the same key', async () => {
    const account = newAccount();
    const { ec2, kms } = account.aws;
    const key = await createKey(account);
    await kms.send(new CreateAliasCommand({ AliasName: 'alias/contract-test', TargetKeyId: key.KeyId! }));

    const byAlias = await ec2.send(
      new CreateVolumeCommand({
        AvailabilityZone: ZONE,
        Size: 1,
        Encrypted: true,
        KmsKeyId: 'alias/contract-test',
      }),
    );
    expect(byAlias.KmsKeyId).toBe(key.Arn);
    const byKeyId = await ec2.send(
      new CreateVolumeCommand({ AvailabilityZone: ZONE, Size: 1, Encrypted: true, KmsKeyId: key.KeyId! }),
    );
    const described = await onceVisible(() =>
      ec2.send(new DescribeVolumesCommand({ VolumeIds: [byKeyId.VolumeId!] })),
    );
    expect(described.Volumes![0]!.KmsKeyId).toBe(key.Arn);

    const snapshot = await onceVisible(() =>
      ec2.send(new CreateSnapshotCommand({ VolumeId: byAlias.VolumeId! })),
    );
    expect(snapshot.Encrypted).toBe(true);
    expect(snapshot.KmsKeyId).toBe(key.Arn);
    const listed = await onceVisible(() =>
      ec2.send(new DescribeSnapshotsCommand({ SnapshotIds: [snapshot.SnapshotId!] })),
    );
    expect(listed.Snapshots![0]!.KmsKeyId).toBe(key.Arn);
  });
});
