import {
  CreateSnapshotCommand,
  CreateVolumeCommand,
  DescribeVolumesCommand,
  ModifySnapshotAttributeCommand,
} from '@aws-sdk/client-ec2';
import { DisableKeyCommand, ScheduleKeyDeletionCommand } from '@aws-sdk/client-kms';
import { onceVisible } from '@ec2-restore/local-aws';
import { describe, expect, it } from 'vitest';
import {
  type Account,
  accountRoot,
  createKey,
  eventually,
  keyPolicy,
  newAccount,
  ZONE,
} from '../support/index.ts';

/** CreateVolume succeeds (`creating`); then the volume is gone: InvalidVolume.NotFound. */
async function expectVolumeToDisappear(
  account: Account,
  create: Promise<{ VolumeId?: string; State?: string }>,
) {
  const volume = await create;
  const createdAt = Date.now();
  expect(volume.State).toBe('creating');
  // Seen `creating` while it exists (a new id answers NotFound for its first 400 ms at most); then gone.
  // A machine under load may first look only after it is gone: NotFound after 1 s counts as gone.
  let seen = false;
  const error = await eventually(async () => {
    try {
      const out = await account.aws.ec2.send(new DescribeVolumesCommand({ VolumeIds: [volume.VolumeId!] }));
      expect(out.Volumes![0]!.State).toBe('creating');
      seen = true;
      return undefined;
    } catch (err) {
      if ((err as Error).name === 'InvalidVolume.NotFound' && !seen && Date.now() - createdAt < 1_000)
        return undefined;
      return err as Error;
    }
  });
  expect(error.name).toBe('InvalidVolume.NotFound');
}

function encryptedVolume(account: Account, keyArn: string) {
  return account.aws.ec2.send(
    new CreateVolumeCommand({ AvailabilityZone: ZONE, Size: 1, Encrypted: true, KmsKeyId: keyArn }),
  );
}

describe('a volume whose KMS key is unusable fails after CreateVolume returned', () => {
  it('disabled key', async () => {
    const account = newAccount();
    const key = await createKey(account);
    await account.aws.kms.send(new DisableKeyCommand({ KeyId: key.KeyId! }));
    await expectVolumeToDisappear(account, encryptedVolume(account, key.Arn!));
  });

  it('key pending deletion', async () => {
    const account = newAccount();
    const key = await createKey(account);
    await account.aws.kms.send(new ScheduleKeyDeletionCommand({ KeyId: key.KeyId!, PendingWindowInDays: 7 }));
    await expectVolumeToDisappear(account, encryptedVolume(account, key.Arn!));
  });

  it('key whose policy does not allow the caller', async () => {
    const account = newAccount();
    const other = newAccount();
    const key = await createKey(account, keyPolicy(accountRoot(other.id)));
    await expectVolumeToDisappear(account, encryptedVolume(account, key.Arn!));
  });

  it('a volume from a shared snapshot whose key the target account may not use', async () => {
    const owner = newAccount();
    const target = newAccount();
    // Usable by the owner, not by the target: the key policy names only the owner account.
    const key = await createKey(owner);
    const source = await encryptedVolume(owner, key.Arn!);
    const snapshot = await onceVisible(() =>
      owner.aws.ec2.send(new CreateSnapshotCommand({ VolumeId: source.VolumeId! })),
    );
    await onceVisible(() =>
      owner.aws.ec2.send(
        new ModifySnapshotAttributeCommand({
          SnapshotId: snapshot.SnapshotId!,
          CreateVolumePermission: { Add: [{ UserId: target.id }] },
        }),
      ),
    );
    const targetKey = await createKey(target);
    await expectVolumeToDisappear(
      target,
      onceVisible(() =>
        target.aws.ec2.send(
          new CreateVolumeCommand({
            AvailabilityZone: ZONE,
            SnapshotId: snapshot.SnapshotId!,
            Encrypted: true,
            KmsKeyId: targetKey.Arn!,
          }),
        ),
      ),
    );
  });
});
