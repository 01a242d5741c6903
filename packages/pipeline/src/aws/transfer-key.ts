import {
  CreateAliasCommand,
  CreateKeyCommand,
  DescribeKeyCommand,
  GetKeyPolicyCommand,
  type KeyMetadata,
  type KMSClient,
} from '@aws-sdk/client-kms';
import { GetCallerIdentityCommand, type STSClient } from '@aws-sdk/client-sts';
import { classifyAwsError } from '@ec2-restore/aws-clients';
import {
  keyPolicyPrincipalsBeyond,
  parseRoleArn,
  transferKeyAliasFor,
  transferKeyDescription,
  transferKeyPolicy,
} from '@ec2-restore/contracts';
import { PermanentStepError } from '../errors/permanent-step-error.ts';
import { pollUntil } from './poll.ts';

/**
 * The transfer key of a restore role (packages/contracts/src/transfer-key.ts), in the source account
 * and the clients' region: found by its alias, created on first use.
 */

type TransferKey = KeyMetadata & { Arn: string };

/** How long a just-created alias may stay invisible to DescribeKey (KMS is eventually consistent). */
const NEW_ALIAS_VISIBLE_MS = 30_000;

/** The transfer key behind the alias, or null when there is none (KMS `NotFoundException`). */
export async function describeTransferKey(
  kms: KMSClient,
  restoreRoleArn: string,
): Promise<TransferKey | null> {
  try {
    const { KeyMetadata } = await kms.send(
      new DescribeKeyCommand({ KeyId: transferKeyAliasFor(restoreRoleArn) }),
    );
    if (!KeyMetadata?.Arn) return null;
    return { ...KeyMetadata, Arn: KeyMetadata.Arn };
  } catch (error) {
    if (classifyAwsError(error).code === 'NotFoundException') return null;
    throw error;
  }
}

/** Refuses a transfer key the snapshots must not be encrypted with: not enabled, or not a symmetric customer key. */
function assertUsable(key: TransferKey, restoreRoleArn: string): TransferKey {
  const alias = transferKeyAliasFor(restoreRoleArn);
  if (key.KeyManager !== 'CUSTOMER' || key.KeySpec !== 'SYMMETRIC_DEFAULT') {
    throw new PermanentStepError(
      `the alias ${alias} points to ${key.Arn}, which is not a symmetric customer managed key; delete the alias (aws kms delete-alias --alias-name ${alias}) and the product creates its transfer key again`,
      { code: 'kms_key_unusable', category: 'kms' },
    );
  }
  if (key.KeyState !== 'Enabled') {
    throw new PermanentStepError(
      `the transfer key ${key.Arn} (${alias}) is ${key.KeyState}; enable it (aws kms enable-key --key-id ${key.Arn}) or delete the alias so a new one is created`,
      { code: 'kms_key_unusable', category: 'kms' },
    );
  }
  return key;
}

// Jobs of this process create a missing key one at a time: the second finds the first one's alias.
const creating = new Map<string, Promise<TransferKey>>();

/**
 * The transfer key for `restoreRoleArn`, created when it does not exist yet: CreateKey with the key
 * policy that names only that role besides the source account, then CreateAlias. The source account
 * is the workers' own (STS), never a value from the job. Two processes may create it at the same
 * moment: the one whose CreateAlias loses (`AlreadyExistsException`) uses the winner's key; its own
 * stays unused, says so in its description, and holds no data.
 */
export async function ensureTransferKey(
  clients: { kms: KMSClient; sts: STSClient },
  restoreRoleArn: string,
): Promise<TransferKey> {
  const existing = await describeTransferKey(clients.kms, restoreRoleArn);
  if (existing) return assertUsable(existing, restoreRoleArn);
  const alias = transferKeyAliasFor(restoreRoleArn);
  let pending = creating.get(alias);
  if (!pending) {
    pending = createTransferKey(clients, restoreRoleArn).finally(() => creating.delete(alias));
    creating.set(alias, pending);
  }
  return assertUsable(await pending, restoreRoleArn);
}

async function createTransferKey(
  clients: { kms: KMSClient; sts: STSClient },
  restoreRoleArn: string,
): Promise<TransferKey> {
  const alias = transferKeyAliasFor(restoreRoleArn);
  const again = await describeTransferKey(clients.kms, restoreRoleArn);
  if (again) return again;
  const { Account: sourceAccountId } = await clients.sts.send(new GetCallerIdentityCommand({}));
  if (!sourceAccountId) throw new Error('GetCallerIdentity returned no account');
  const { KeyMetadata } = await clients.kms.send(
    new CreateKeyCommand({
      Description: transferKeyDescription(restoreRoleArn),
      KeySpec: 'SYMMETRIC_DEFAULT',
      KeyUsage: 'ENCRYPT_DECRYPT',
      Policy: JSON.stringify(transferKeyPolicy({ sourceAccountId, restoreRoleArn })),
    }),
  );
  if (!KeyMetadata?.KeyId) throw new Error('CreateKey returned no key');
  try {
    await clients.kms.send(new CreateAliasCommand({ AliasName: alias, TargetKeyId: KeyMetadata.KeyId }));
  } catch (error) {
    if (classifyAwsError(error).code !== 'AlreadyExistsException') throw error;
  }
  const found = await pollUntil(
    () => describeTransferKey(clients.kms, restoreRoleArn).then((k) => k ?? undefined),
    {
      timeoutMs: NEW_ALIAS_VISIBLE_MS,
      intervalMs: 1000,
    },
  );
  if (!found)
    throw new Error(`the new alias ${alias} did not become visible within ${NEW_ALIAS_VISIBLE_MS / 1000} s`);
  return found;
}

/**
 * The transfer key a share step may share: it exists, is usable, and its key policy lets no
 * principal outside the source account use it but the restore role (else the share is refused).
 */
export async function transferKeyToShare(
  clients: { kms: KMSClient; sts: STSClient },
  restoreRoleArn: string,
): Promise<TransferKey> {
  const key = await describeTransferKey(clients.kms, restoreRoleArn);
  const alias = transferKeyAliasFor(restoreRoleArn);
  if (!key) {
    throw new PermanentStepError(
      `the transfer key ${alias} does not exist, but the restore's snapshots are to be shared encrypted with it; nothing was shared`,
      { code: 'job_refused', category: 'permission' },
    );
  }
  assertUsable(key, restoreRoleArn);
  const role = parseRoleArn(restoreRoleArn);
  const { Account: sourceAccountId = '' } = await clients.sts.send(new GetCallerIdentityCommand({}));
  const { Policy = '{}' } = await clients.kms.send(
    new GetKeyPolicyCommand({ KeyId: key.Arn, PolicyName: 'default' }),
  );
  const outside = keyPolicyPrincipalsBeyond(JSON.parse(Policy), sourceAccountId, restoreRoleArn);
  if (!role.ok || outside.length > 0) {
    throw new PermanentStepError(
      `refused to share: the key policy of the transfer key ${key.Arn} (${alias}) lets ${outside.join(', ')} use it, not only the restore role ${restoreRoleArn}; restore its policy or delete the alias so a new key is created. Nothing was shared`,
      { code: 'job_refused', category: 'permission' },
    );
  }
  return key;
}
