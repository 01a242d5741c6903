import { type EC2Client, ModifySnapshotAttributeCommand, type Snapshot } from '@aws-sdk/client-ec2';
import {
  CreateGrantCommand,
  DescribeKeyCommand,
  type GrantOperation,
  type KMSClient,
} from '@aws-sdk/client-kms';
import { classifyAwsError } from '@ec2-restore/aws-clients';
import { findGrantsByName, findStepSnapshots } from '@ec2-restore/aws-resources';
import {
  type KmsGrantRef,
  parseRoleArn,
  RESTORE_ROLE_GRANT_OPERATIONS,
  type ShareJobInput,
  type ShareJobResult,
  type SnapshotJobResult,
} from '@ec2-restore/contracts';
import { allSettledOrThrow } from '../aws/instance-state.ts';
import { pollUntil } from '../aws/poll.ts';
import { sourceDefaultKey } from '../aws/source-default-key.ts';
import { transferKeyToShare } from '../aws/transfer-key.ts';
import { snapshotFailure, waitForSnapshotCompleted } from '../aws/wait-for-snapshot.ts';
import { PermanentStepError } from '../errors/permanent-step-error.ts';
import { StepPendingError } from '../errors/step-pending-error.ts';
import type { StepContext } from './step-context.ts';

/**
 * What the restore role does with the source default key: create a volume from a snapshot
 * encrypted with it, re-encrypted with the target key, and nothing more (see
 * RESTORE_ROLE_GRANT_OPERATIONS, from which the pre-flight generates the matching policies).
 */
export const SOURCE_KEY_GRANT_OPERATIONS: GrantOperation[] = [...RESTORE_ROLE_GRANT_OPERATIONS];

/**
 * How long a new grant may take to work before the restore gives up. KMS grants are eventually
 * consistent: "it can take up to five minutes" for a new grant to be available throughout KMS
 * (https://docs.aws.amazon.com/kms/latest/developerguide/grants.html#terms-eventual-consistency), and
 * EBS cannot pass the grant token that would make it usable at once.
 */
export const GRANT_EFFECTIVE_TIMEOUT_MS = 6 * 60_000;
/** In-job wait for the grant, before the wait goes back to the queue. */
const GRANT_SHORT_WAIT_MS = 20_000;

/** Name of a restore's grant: with a Name, CreateGrant is idempotent and ListGrants finds it again. */
export function grantNameFor(restoreId: string): string {
  return `ec2-restore-${restoreId}`;
}

function refuse(message: string): PermanentStepError {
  return new PermanentStepError(`refused to share: ${message}; nothing was shared`, {
    code: 'job_refused',
    category: 'permission',
  });
}

/**
 * The share step acts for one restore only: its role is in its target account, and every snapshot
 * it is about to share was made by this restore in this account (`restoreSnapshots`, found by the
 * restore's tags) and is encrypted with `keyArn` (the
 * key the restore's snapshots are written with). Anything else (a snapshot id or key changed in
 * Redis, a role of another account) is refused before anything is shared or granted.
 */
export function assertShareOfThisRestore(
  input: ShareJobInput,
  snapshots: SnapshotJobResult[],
  keyArn: string,
  restoreSnapshots: Snapshot[],
): void {
  const role = parseRoleArn(input.roleArn);
  if (!role.ok || role.arn.accountId !== input.targetAccountId) {
    throw refuse(`the restore role ${input.roleArn} is not in the target account ${input.targetAccountId}`);
  }
  if (input.mode !== 'cross-account') throw refuse('a same-account restore shares nothing');
  const own = new Map(restoreSnapshots.map((s) => [s.SnapshotId, s]));
  for (const snapshot of snapshots) {
    const found = own.get(snapshot.snapshotId);
    if (!found) {
      throw refuse(
        `snapshot ${snapshot.snapshotId} (${snapshot.deviceName}) is not a snapshot restore ${input.restoreId} made in this account`,
      );
    }
    if (found.KmsKeyId !== keyArn || snapshot.kmsKeyId !== keyArn) {
      throw refuse(
        `snapshot ${snapshot.snapshotId} is encrypted with ${found.KmsKeyId ?? 'no key'}, not with the key this restore shares (${keyArn})`,
      );
    }
  }
}

/**
 * Whether EC2 refused a change to a snapshot because of the snapshot's state: `IncorrectState`, "The
 * resource is in an incorrect state for the request"
 * (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/errors-overview.html).
 */
export function refusedForItsState(error: unknown): boolean {
  return classifyAwsError(error).code === 'IncorrectState';
}

/**
 * Lets `accountId` create volumes from the snapshot (createVolumePermission). Adding a permission the
 * snapshot already has changes nothing, so a retried step may add it again.
 */
export async function addCreateVolumePermission(
  ec2: EC2Client,
  snapshotId: string,
  accountId: string,
): Promise<void> {
  await ec2.send(
    new ModifySnapshotAttributeCommand({
      SnapshotId: snapshotId,
      Attribute: 'createVolumePermission',
      CreateVolumePermission: { Add: [{ UserId: accountId }] },
    }),
  );
}

/**
 * Shares one snapshot with the target account, `pending` (still sealing) or `completed`. AWS lists no
 * rule against sharing a snapshot that is still pending
 * (https://docs.aws.amazon.com/ebs/latest/userguide/ebs-modifying-snapshot-permissions.html#share-snapshot-considerations),
 * and sharing it at once lets the share reach the target account while EBS seals it. Should EC2 refuse
 * a pending one for its state, the share waits for `completed` (bounded, as the step's wait) and is made then.
 */
export async function shareWithTarget(
  clients: { ec2: EC2Client; kms: KMSClient },
  snapshot: Snapshot,
  accountId: string,
): Promise<void> {
  const snapshotId = snapshot.SnapshotId ?? '';
  const share = () => addCreateVolumePermission(clients.ec2, snapshotId, accountId);
  try {
    await share();
  } catch (error) {
    if (snapshot.State === 'completed' || !refusedForItsState(error)) throw error;
    await waitForSnapshotCompleted(clients, snapshotId);
    await share();
  }
}

/**
 * The share step (docs/architecture.md#the-two-flows, step 2), in the source account: shares each snapshot
 * with the target account (createVolumePermission) and, with `kmsGrant: auto`, grants the restore
 * role the use of the key the snapshots are encrypted with (the transfer key with `transferKey`, else
 * the source default key) until cleanup retires the grant. Both are idempotent. The snapshots may
 * still be sealing (sealEndsInShareStep in snapshot.ts): they are shared at once and the step ends
 * when every one is `completed` (a wait of more than 30 s goes back to the queue; `error` fails the
 * restore, naming the key when it is the cause).
 */
export async function shareSnapshots(
  input: ShareJobInput,
  snapshots: SnapshotJobResult[],
  ctx: StepContext,
): Promise<ShareJobResult> {
  const { ec2, kms } = ctx.clients.source(input.region);
  await ctx.checkpoint();
  // Reads only, at once: the key the snapshots must be encrypted with, and the restore's snapshots.
  const [key, restoreSnapshots] = await allSettledOrThrow([
    input.transferKey
      ? transferKeyToShare(ctx.clients.source(input.region), input.roleArn)
      : sourceDefaultKey({ ec2, kms }, { mustBeShareable: true }),
    findStepSnapshots(ec2, { restoreId: input.restoreId }),
  ] as const);
  assertShareOfThisRestore(input, snapshots, key.Arn, restoreSnapshots);
  // As the restore's snapshots listing shows them now (the assertion above found every one).
  const seen = snapshots.map(
    (s) => restoreSnapshots.find((r) => r.SnapshotId === s.snapshotId) ?? { SnapshotId: s.snapshotId },
  );
  const failed = seen.find((s) => s.State === 'error');
  if (failed) throw await snapshotFailure(kms, failed);

  await allSettledOrThrow(
    seen.map((snapshot) => shareWithTarget({ ec2, kms }, snapshot, input.targetAccountId)),
  );
  // The grant and the seal of the snapshots not completed yet, at once.
  const [grant] = await allSettledOrThrow([
    input.kmsGrant === 'auto' ? grantRestoreRole(ctx, input, key.Arn) : Promise.resolve(null),
    ...seen
      .filter((s) => s.State !== 'completed')
      .map((s) => waitForSnapshotCompleted({ ec2, kms }, s.SnapshotId ?? '')),
  ] as const);
  return { snapshots, grant };
}

/**
 * `kmsGrant: auto`: grants the restore role the use of `keyId` (every snapshot is encrypted with it,
 * see assertShareOfThisRestore) under the restore's grant name, unless made already, and waits until
 * it works.
 */
async function grantRestoreRole(ctx: StepContext, input: ShareJobInput, keyId: string): Promise<KmsGrantRef> {
  const { kms } = ctx.clients.source(input.region);
  const name = grantNameFor(input.restoreId);
  let [made] = await findGrantsByName(kms, keyId, name);
  if (!made) {
    const created = await kms.send(
      new CreateGrantCommand({
        KeyId: keyId,
        GranteePrincipal: input.roleArn,
        RetiringPrincipal: input.roleArn,
        Operations: SOURCE_KEY_GRANT_OPERATIONS,
        Name: name,
      }),
    );
    made = { keyId, grantId: created.GrantId ?? '', createdAt: new Date() };
  }
  await waitUntilRestoreRoleMayUse(ctx, input, keyId, made.createdAt ?? new Date());
  return { keyId: made.keyId, grantId: made.grantId };
}

/**
 * Waits (bounded) until the restore role can use a key it was just granted, so the instance step's
 * CreateVolume does not fail on a grant that is not in effect yet: DescribeKey as the restore role
 * (an operation of the grant) succeeds once KMS applies the grant.
 */
async function waitUntilRestoreRoleMayUse(
  ctx: StepContext,
  input: ShareJobInput,
  keyId: string,
  grantedAt: Date,
): Promise<void> {
  const { kms } = ctx.clients.target(input);
  let lastRefusal = '';
  const usable = await pollUntil(
    async () => {
      try {
        await kms.send(new DescribeKeyCommand({ KeyId: keyId }));
        return true;
      } catch (error) {
        const classified = classifyAwsError(error);
        if (classified.retryable) return undefined;
        if (!/AccessDenied|NotFound/.test(classified.code)) throw error;
        lastRefusal = `${classified.code}: ${classified.message}`;
        return undefined;
      }
    },
    { timeoutMs: GRANT_SHORT_WAIT_MS, intervalMs: 1000 },
  );
  if (usable) return;
  if (Date.now() - grantedAt.getTime() < GRANT_EFFECTIVE_TIMEOUT_MS) {
    throw new StepPendingError(`the KMS grant on ${keyId} to take effect for ${input.roleArn}`, 10_000);
  }
  throw new PermanentStepError(
    `the restore role ${input.roleArn} still cannot use the key ${keyId} ${Math.round(GRANT_EFFECTIVE_TIMEOUT_MS / 60_000)} minutes after it was granted it (${lastRefusal}); check the key's state and its key policy (an explicit Deny wins over a grant)`,
    { code: 'kms_access_denied', category: 'kms' },
  );
}
