import { type Check, chooseLaunchStrategy } from '@ec2-restore/contracts';
import { fail } from './check-result.ts';
import type { PreflightFacts } from './facts.ts';
import {
  checkMode,
  checkRestoreRoleAssumable,
  checkWorkerIdentity,
  determineMode,
} from './identity-checks.ts';
import {
  checkKeyAccess,
  checkKeyExists,
  checkKeyRegion,
  checkKeySpec,
  checkKeyState,
  checkSourceDefaultKeyCustomerManaged,
} from './key-checks.ts';
import { checkInstanceBoot, checkLaunchStrategy } from './launch-checks.ts';
import { checkStepPermissions } from './permission-checks.ts';
import { checkRepositoryAccess } from './repository-checks.ts';
import { keyUseRequirements } from './requirements.ts';
import {
  checkAttachments,
  checkExistingInstance,
  checkInstanceType,
  checkNetwork,
  checkRestorePointVolumes,
  checkVolumeLimits,
} from './target-checks.ts';
import { checkTransferKey, usesTransferKey } from './transfer-key-checks.ts';

export * from './identity-checks.ts';
export * from './key-checks.ts';
export * from './repository-checks.ts';
export * from './target-checks.ts';
export * from './transfer-key-checks.ts';

/*
 * The pre-flight checks of docs/architecture.md#pre-flight-checks, as pure functions over gathered facts. Each returns
 * a Check with a stable id (see README.md), a message naming what was found, and a remedy with the
 * exact statement or command. runChecks() runs those that apply to a request, in a stable order.
 */

/**
 * Runs every check that applies to the facts' request, in a stable order. The API rejects a
 * request when any check fails; warnings let it go on.
 */
export function runChecks(facts: PreflightFacts): Check[] {
  const checks: (Check | undefined)[] = [];
  const region = facts.request.target.region;
  checks.push(checkWorkerIdentity(facts), checkMode(facts));
  const mode = determineMode(facts);
  checks.push(checkRestoreRoleAssumable(facts));

  const target = facts.targetKey;
  checks.push(checkKeyExists('target-key.exists', 'target key', target, region));
  if (target.metadata) {
    checks.push(checkKeyState('target-key.state', 'target key', target.metadata));
    checks.push(checkKeySpec('target-key.spec', 'target key', target.metadata));
    checks.push(checkKeyRegion(target.metadata, region));
  }

  const transfer = usesTransferKey(facts, mode);
  if (transfer) checks.push(checkTransferKey(facts));
  if (mode === 'cross-account' && !transfer) {
    const defaults = facts.sourceDefaultKey;
    if (defaults?.error || !defaults?.key) {
      checks.push(
        fail(
          'source-default-key.exists',
          `The EBS default key of ${region} in the source account could not be read: ${defaults?.error?.code ?? 'not gathered'}: ${defaults?.error?.message ?? ''}`.trim(),
          {
            summary: 'Allow the worker role ec2:GetEbsDefaultKmsKeyId and ec2:GetEbsEncryptionByDefault.',
            commands: [`aws ec2 get-ebs-default-kms-key-id --region ${region}`],
          },
        ),
      );
    } else {
      checks.push(checkKeyExists('source-default-key.exists', 'source default key', defaults.key, region));
      checks.push(checkSourceDefaultKeyCustomerManaged(facts));
      if (defaults.key.metadata)
        checks.push(checkKeyState('source-default-key.state', 'source default key', defaults.key.metadata));
    }
  }

  if (mode) {
    const shape = {
      mode,
      dataPath: facts.request.dataPath,
      kmsGrant: facts.request.kmsGrant,
      hasRestoreRole: facts.request.target.roleArn !== undefined,
      ...(facts.request.verify ? { verify: true } : {}),
      ...(transfer ? { transferKey: true } : {}),
      // The launch strategy's actions only (a volume-level restore launches nothing).
      launch:
        facts.request.volumes !== undefined
          ? null
          : chooseLaunchStrategy(facts.restorePoint.instance, facts.request.instance.launchStrategy).strategy,
    };
    for (const requirement of keyUseRequirements(shape)) checks.push(checkKeyAccess(requirement, facts));
    checks.push(checkStepPermissions(facts, shape, 'worker-role'));
    checks.push(checkStepPermissions(facts, shape, 'restore-role'));
  }
  checks.push(checkRepositoryAccess(facts));

  checks.push(...checkNetwork(facts), checkInstanceType(facts), checkExistingInstance(facts));
  checks.push(checkLaunchStrategy(facts), checkInstanceBoot(facts));
  checks.push(checkRestorePointVolumes(facts), checkVolumeLimits(facts), checkAttachments(facts));
  return checks.filter((c): c is Check => c !== undefined);
}
