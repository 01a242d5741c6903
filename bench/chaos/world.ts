/**
 * What the chaos run restores into: a source account (the workers' own, also the target of
 * same-account restores) and a target account with a restore role, one backup repository with a
 * one-volume and a two-volume restore point (volumes of 1 GiB, the EBS minimum, mostly zeros), and
 * the mix of requests.
 */
import { join } from 'node:path';
import { DisableKeyCommand } from '@aws-sdk/client-kms';
import type { RestorePointSummary } from '@ec2-restore/backup-repository';
import type { RestoreRequestInput } from '@ec2-restore/contracts';
import {
  type Account,
  type CrossAccounts,
  createBackup,
  createKey,
  crossAccount,
  defaultSubnet,
  keyUsableBy,
  launchInstance,
  REGION,
  removeBackup,
} from '../../test/support/index.ts';

export interface ChaosWorld {
  accounts: CrossAccounts;
  /** The same-account target key (in the source account). */
  sourceTargetKey: string;
  sourceSubnetId: string;
  repositoryPath: string;
  /** One volume, /dev/xvda: whole-instance restores. */
  single: RestorePointSummary;
  /** /dev/xvda and /dev/xvdb: volume-level restores of /dev/xvdb. */
  pair: RestorePointSummary;
  /** An instance of the source account per snapshot-worker process (the worker-volume data path). */
  workerInstanceIds: string[];
  close(): Promise<void>;
}

export async function openChaosWorld(snapshotWorkers: number): Promise<ChaosWorld> {
  const single = await createBackup(['/dev/xvda']);
  const pair = await createBackup(['/dev/xvda', '/dev/xvdb'], single.folder);
  const accounts = await crossAccount();
  const workerInstanceIds: string[] = [];
  for (let i = 0; i < snapshotWorkers; i++) workerInstanceIds.push(await launchInstance(accounts.source));
  return {
    accounts,
    sourceTargetKey: (await createKey(accounts.source)).Arn,
    sourceSubnetId: (await defaultSubnet(accounts.source)).subnetId,
    repositoryPath: join(single.folder, 'repo'),
    single: single.restorePoint,
    pair: pair.restorePoint,
    workerInstanceIds,
    async close() {
      accounts.source.aws.destroy();
      accounts.target.aws.destroy();
      await removeBackup(single);
    },
  };
}

/** One planned restore of the mix. */
export interface PlannedRestore {
  index: number;
  name: string;
  mode: 'cross-account' | 'same-account';
  dataPath: 'ebs-direct' | 'worker-volume';
  level: 'instance' | 'volumes';
  /** Cancel this long after the 202, or never. */
  cancelAfterMs: number | null;
  /** Disable the restore's own target key this long after the 202, or never. */
  revokeAfterMs: number | null;
  /** Follow its event stream. */
  follow: boolean;
}

/** The mix: a deterministic spread of modes, data paths, levels, cancels and revoked keys. */
export function planMix(count: number, random: () => number): PlannedRestore[] {
  return Array.from({ length: count }, (_, index) => {
    const pick = random();
    return {
      index,
      name: `chaos-${index}`,
      mode: index % 3 === 2 ? 'same-account' : 'cross-account',
      dataPath: index % 4 === 3 ? 'worker-volume' : 'ebs-direct',
      level: index % 5 === 4 ? 'volumes' : 'instance',
      // About one in ten is cancelled and one in ten has its key disabled, at different moments.
      cancelAfterMs: pick < 0.1 ? Math.round(1_000 + random() * 20_000) : null,
      revokeAfterMs: pick >= 0.1 && pick < 0.2 ? Math.round(random() * 15_000) : null,
      follow: index % 4 === 0,
    };
  });
}

/** The account and key a restore must end up in. */
export interface RestoreTarget {
  accountId: string;
  /** ARN of the key every restored volume must be encrypted with. */
  keyArn: string;
  account: Account;
}

/** The body of one planned restore; a revoked-key restore gets a key of its own (made here). */
export async function requestOf(
  world: ChaosWorld,
  plan: PlannedRestore,
): Promise<{ body: RestoreRequestInput; target: RestoreTarget }> {
  const { source, target, roleArn, externalId, targetKey } = world.accounts;
  const cross = plan.mode === 'cross-account';
  const account = cross ? target : source;
  const keyArn =
    plan.revokeAfterMs === null
      ? cross
        ? targetKey
        : world.sourceTargetKey
      : cross
        ? await keyUsableBy(account, roleArn)
        : (await createKey(account)).Arn;
  const volumeLevel = plan.level === 'volumes';
  const body: RestoreRequestInput = {
    restorePointId: (volumeLevel ? world.pair : world.single).id,
    target: {
      accountId: account.id,
      region: REGION,
      ...(cross ? { roleArn, externalId } : {}),
      kmsKeyId: keyArn,
    },
    instance: { name: plan.name, subnetId: cross ? world.accounts.targetSubnetId : world.sourceSubnetId },
    ...(volumeLevel ? { volumes: ['/dev/xvdb'] } : {}),
    dataPath: plan.dataPath,
    ...(cross ? { kmsGrant: 'auto' as const } : {}),
  };
  return { body, target: { accountId: account.id, keyArn, account } };
}

/** Revokes a restore's target key after it was accepted: DisableKey, as a key owner might. */
export async function disableKey(target: RestoreTarget): Promise<void> {
  await target.account.aws.kms.send(new DisableKeyCommand({ KeyId: target.keyArn }));
}
