import {
  DeleteSnapshotCommand,
  DescribeSnapshotAttributeCommand,
  type EC2Client,
  ModifySnapshotAttributeCommand,
} from '@aws-sdk/client-ec2';
import { ifStillThere } from './not-found.ts';

export interface SnapshotRemoval {
  snapshotId: string;
  /** `deleted` by this call, or already `gone`. */
  outcome: 'deleted' | 'gone';
  /** Accounts (or `all`, a public share) whose createVolumePermission was withdrawn first. */
  unsharedFrom: string[];
}

/**
 * Withdraws every createVolumePermission, then deletes the snapshot. Deleting a shared snapshot is
 * allowed, but unsharing first means an account that races the removal cannot start a CreateVolume
 * from it (https://docs.aws.amazon.com/ebs/latest/userguide/modify-snapshot-attribute.html). Every
 * permission is withdrawn, not only the restore's target: the snapshot is the restore's own, and a
 * share nobody intended must not outlive it either.
 */
export async function removeSnapshot(ec2: EC2Client, snapshotId: string): Promise<SnapshotRemoval> {
  let unsharedFrom: string[] = [];
  const unshared = await ifStillThere(async () => {
    const { CreateVolumePermissions = [] } = await ec2.send(
      new DescribeSnapshotAttributeCommand({ SnapshotId: snapshotId, Attribute: 'createVolumePermission' }),
    );
    if (CreateVolumePermissions.length === 0) return;
    await ec2.send(
      new ModifySnapshotAttributeCommand({
        SnapshotId: snapshotId,
        Attribute: 'createVolumePermission',
        CreateVolumePermission: { Remove: CreateVolumePermissions },
      }),
    );
    unsharedFrom = CreateVolumePermissions.flatMap((p) => p.UserId ?? p.Group ?? []);
  });
  const deleted =
    unshared && (await ifStillThere(() => ec2.send(new DeleteSnapshotCommand({ SnapshotId: snapshotId }))));
  return { snapshotId, outcome: deleted ? 'deleted' : 'gone', unsharedFrom };
}
