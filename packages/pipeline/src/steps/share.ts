import { ModifySnapshotAttributeCommand } from '@aws-sdk/client-ec2';
import {
  CreateGrantCommand,
  type GrantOperation,
  type KMSClient,
  ListGrantsCommand,
} from '@aws-sdk/client-kms';
import type { KmsGrantRef, ShareJobInput, ShareJobResult, SnapshotJobResult } from '@ec2-restore/contracts';
import { sourceDefaultKey } from '../aws/source-default-key.ts';
import type { StepContext } from './step-context.ts';

/**
 * What the restore role does with the source default key: create a volume from a snapshot
 * encrypted with it, re-encrypted with the target key
 * (https://docs.aws.amazon.com/ebs/latest/userguide/ebs-modifying-snapshot-permissions.html#share-kms-key).
 */
export const SOURCE_KEY_GRANT_OPERATIONS: GrantOperation[] = [
  'Decrypt',
  'DescribeKey',
  'CreateGrant',
  'GenerateDataKeyWithoutPlaintext',
  'ReEncryptFrom',
];

/** Name of a restore's grant: with a Name, CreateGrant is idempotent and ListGrants finds it again. */
export function grantNameFor(restoreId: string): string {
  return `ec2-restore-${restoreId}`;
}

export async function findGrants(kms: KMSClient, keyId: string, name: string): Promise<KmsGrantRef[]> {
  const found: KmsGrantRef[] = [];
  let Marker: string | undefined;
  do {
    const page = await kms.send(new ListGrantsCommand({ KeyId: keyId, Marker }));
    for (const grant of page.Grants ?? []) {
      if (grant.Name === name && grant.GrantId) found.push({ keyId, grantId: grant.GrantId });
    }
    Marker = page.Truncated ? page.NextMarker : undefined;
  } while (Marker);
  return found;
}

/**
 * The share step (docs/architecture.md#the-two-flows, step 2), in the source account: shares each snapshot
 * with the target account (createVolumePermission) and, with `kmsGrant: auto`, grants the restore
 * role the use of the source default key until cleanup retires the grant. Both are idempotent.
 */
export async function shareSnapshots(
  input: ShareJobInput,
  snapshots: SnapshotJobResult[],
  ctx: StepContext,
): Promise<ShareJobResult> {
  const { ec2, kms } = ctx.clients.source(input.region);
  await ctx.checkpoint();
  const key = await sourceDefaultKey({ ec2, kms }, { mustBeShareable: true });

  for (const snapshot of snapshots) {
    await ec2.send(
      new ModifySnapshotAttributeCommand({
        SnapshotId: snapshot.snapshotId,
        Attribute: 'createVolumePermission',
        CreateVolumePermission: { Add: [{ UserId: input.targetAccountId }] },
      }),
    );
  }

  let grant: KmsGrantRef | null = null;
  if (input.kmsGrant === 'auto') {
    // The snapshots are encrypted with the default key they were written with; grant on each such key.
    const keyIds = new Set([key.Arn, ...snapshots.map((s) => s.kmsKeyId)]);
    const name = grantNameFor(input.restoreId);
    for (const keyId of keyIds) {
      const [existing] = await findGrants(kms, keyId, name);
      if (existing) {
        grant ??= existing;
        continue;
      }
      const created = await kms.send(
        new CreateGrantCommand({
          KeyId: keyId,
          GranteePrincipal: input.roleArn,
          RetiringPrincipal: input.roleArn,
          Operations: SOURCE_KEY_GRANT_OPERATIONS,
          Name: name,
        }),
      );
      grant ??= { keyId, grantId: created.GrantId ?? '' };
    }
  }
  return { snapshots, grant };
}
