import {
  chooseLaunchStrategy,
  type PlannedResource,
  type PlanResult,
  type PlanStep,
  type PlanStepName,
  type RestoreMode,
  type StepPrincipal,
} from '@ec2-restore/contracts';
import { determineMode, restoredVolumes, runChecks } from './checks.ts';
import type { PreflightFacts } from './facts.ts';
import { sharedKeyOf } from './transfer-key-checks.ts';

/** The launch strategy and why (null for a volume-level restore, which launches nothing). */
export function launchOf(facts: PreflightFacts): PlanResult['launch'] {
  if (facts.request.volumes !== undefined) return null;
  const { strategy, reason } = chooseLaunchStrategy(
    facts.restorePoint.instance,
    facts.request.instance.launchStrategy,
  );
  return { strategy, reason };
}

/**
 * The ordered steps of a restore and the resources each creates (docs/architecture.md#the-two-flows), from the
 * facts. Pure: nothing is created. Temporary resources are removed by the cleanup step whether the
 * restore succeeds or fails.
 */
export function planSteps(facts: PreflightFacts, mode: RestoreMode): Pick<PlanResult, 'steps' | 'resources'> {
  const { request } = facts;
  const region = request.target.region;
  const sourceAccount = facts.worker.principal?.identity.accountId ?? null;
  const targetAccount = request.target.accountId;
  const targetKey = facts.targetKey.metadata?.arn ?? request.target.kmsKeyId;
  const shared = sharedKeyOf(facts, mode);
  // The key the shared snapshots are written with: the transfer key (by its alias until it exists) or the source default key.
  const sourceKey = shared ? (shared.keyId ?? shared.alias) : null;
  const volumes = restoredVolumes(facts);
  const existingInstance = request.instance.instanceId;
  const instancePrincipal: StepPrincipal = request.target.roleArn ? 'restore-role' : 'worker-role';
  const steps: PlanStep[] = [];
  const resources: PlannedResource[] = [];

  const step = (
    name: PlanStepName,
    principal: StepPrincipal,
    description: string,
    deviceName: string | null = null,
  ) => {
    steps.push({
      name,
      principal,
      description,
      accountId: principal === 'worker-role' ? sourceAccount : targetAccount,
      region,
      deviceName,
    });
  };
  const resource = (r: Omit<PlannedResource, 'region'>) => resources.push({ ...r, region });

  // Where the data is written: the shared key for another account, else the target key.
  const writeKey = mode === 'cross-account' ? sourceKey : targetKey;
  const writeAccount = sourceAccount;
  if (shared?.createdOnFirstUse) {
    step(
      'create-transfer-key',
      'worker-role',
      `Create the transfer key ${shared.alias} (its key policy names no principal of another account but ${request.target.roleArn}); kept for later restores with this role.`,
    );
    resource({
      kind: 'kms-key',
      step: 'create-transfer-key',
      accountId: writeAccount,
      deviceName: null,
      kmsKeyId: shared.alias,
      sizeGiB: null,
      temporary: false,
      description: `Transfer key ${shared.alias}: encrypts the snapshots shared with ${request.target.roleArn}.`,
    });
  }
  for (const volume of volumes) {
    const device = volume.deviceName;
    const temporarySnapshot = (made: PlanStepName) =>
      resource({
        kind: 'ebs-snapshot',
        step: made,
        accountId: writeAccount,
        deviceName: device,
        kmsKeyId: writeKey,
        sizeGiB: volume.sizeGiB,
        temporary: true,
        description: `Snapshot of ${device}, encrypted with ${writeKey}.`,
      });
    if (request.dataPath === 'ebs-direct') {
      step(
        'write-snapshot',
        'worker-role',
        `Write ${device} (${volume.sizeGiB} GiB) into a new encrypted snapshot with the EBS direct APIs.`,
        device,
      );
      temporarySnapshot('write-snapshot');
      if (request.verify) {
        step(
          'verify-snapshot',
          'worker-role',
          `Read every block of the snapshot of ${device} back (EBS direct GetSnapshotBlock) and compare it with the restore point; a difference fails the restore.`,
          device,
        );
      }
    } else {
      const final = mode === 'same-account';
      step(
        'create-worker-volume',
        'worker-role',
        `Create an empty encrypted ${volume.volumeType} volume for ${device} and attach it to the worker instance.`,
        device,
      );
      resource({
        kind: 'ebs-volume',
        step: 'create-worker-volume',
        accountId: writeAccount,
        deviceName: device,
        kmsKeyId: writeKey,
        sizeGiB: volume.sizeGiB,
        temporary: !final,
        description: final ? `The restored ${device}.` : `Staging volume for ${device}.`,
      });
      step(
        'write-volume',
        'worker-role',
        `Write the backed-up blocks of ${device} to the attached volume.`,
        device,
      );
      if (request.verify) {
        step(
          'verify-volume',
          'worker-role',
          `Read every block of the attached volume of ${device} back and compare it with the restore point; a difference fails the restore.`,
          device,
        );
      }
      if (!final) {
        step('snapshot-volume', 'worker-role', `Detach the volume of ${device} and snapshot it.`, device);
        temporarySnapshot('snapshot-volume');
      }
    }
    if (mode === 'cross-account') {
      step(
        'share-snapshot',
        'worker-role',
        `Share the snapshot of ${device} with account ${targetAccount}.`,
        device,
      );
      resource({
        kind: 'snapshot-share',
        step: 'share-snapshot',
        accountId: writeAccount,
        deviceName: device,
        kmsKeyId: writeKey,
        sizeGiB: null,
        temporary: true,
        description: `createVolumePermission for ${targetAccount}; withdrawn at the end.`,
      });
    }
  }
  if (mode === 'cross-account' && request.kmsGrant === 'auto') {
    step(
      'grant-source-key',
      'worker-role',
      `Grant ${request.target.roleArn} the ${shared?.kind === 'transfer' ? 'transfer' : 'source default'} key for the length of the restore.`,
    );
    resource({
      kind: 'kms-grant',
      step: 'grant-source-key',
      accountId: writeAccount,
      deviceName: null,
      kmsKeyId: sourceKey,
      sizeGiB: null,
      temporary: true,
      description: `KMS grant for ${request.target.roleArn}; revoked at the end.`,
    });
  }
  const launch = launchOf(facts);
  if (launch?.strategy === 'register-image') {
    const root = facts.restorePoint.instance.rootDeviceName;
    if (mode === 'cross-account') {
      step(
        'copy-root-snapshot',
        instancePrincipal,
        `Copy the shared snapshot of ${root} into account ${targetAccount}, encrypted with the target key.`,
        root,
      );
      resource({
        kind: 'ebs-snapshot',
        step: 'copy-root-snapshot',
        accountId: targetAccount,
        deviceName: root,
        kmsKeyId: targetKey,
        sizeGiB: null,
        temporary: true,
        description: `Target-owned copy of the snapshot of ${root}, for the image.`,
      });
    }
    step(
      'register-image',
      instancePrincipal,
      `Register an image of ${root} with the restore point's boot mode (${facts.restorePoint.instance.bootMode ?? 'not recorded'}), ENA and IMDS settings.`,
      root,
    );
    resource({
      kind: 'ec2-image',
      step: 'register-image',
      accountId: targetAccount,
      deviceName: root,
      kmsKeyId: null,
      sizeGiB: null,
      temporary: true,
      description: 'Temporary image the instance is launched from; deregistered at the end.',
    });
  }
  if (!existingInstance) {
    const type = request.instance.instanceType ?? facts.restorePoint.instance.instanceType;
    const from =
      launch?.strategy === 'register-image'
        ? ' from that image, every volume mapped and encrypted with the target key'
        : ' from an Amazon base image of the same platform, boot mode and billing (its root volume swapped for the restored one)';
    step(
      'create-instance',
      instancePrincipal,
      `Create the ${type} instance${from}${request.instance.subnetId ? ` in ${request.instance.subnetId}` : ''}${request.instance.powerOn ? ' and start it' : ', stopped'}.`,
    );
    resource({
      kind: 'ec2-instance',
      step: 'create-instance',
      accountId: targetAccount,
      deviceName: null,
      kmsKeyId: null,
      sizeGiB: null,
      temporary: false,
      description: `${type} instance${request.instance.name ? ` "${request.instance.name}"` : ''}.`,
    });
  }
  const createsVolumes =
    launch?.strategy === 'register-image' || request.dataPath === 'ebs-direct' || mode === 'cross-account';
  const createdHow =
    launch?.strategy === 'register-image'
      ? 'with the instance (a RunInstances block device mapping)'
      : 'from its snapshot';
  for (const volume of volumes) {
    const device = volume.deviceName;
    if (createsVolumes) {
      step(
        'create-volume',
        instancePrincipal,
        `Create ${device} ${createdHow}, encrypted with the target key.`,
        device,
      );
      resource({
        kind: 'ebs-volume',
        step: 'create-volume',
        accountId: targetAccount,
        deviceName: device,
        kmsKeyId: targetKey,
        sizeGiB: volume.sizeGiB,
        temporary: false,
        description: `The restored ${device}${device === facts.restorePoint.instance.rootDeviceName ? ' (root volume)' : ''}.`,
      });
    }
    step(
      'attach-volume',
      instancePrincipal,
      `Attach ${device} to ${existingInstance ?? 'the instance'}${device === facts.restorePoint.instance.rootDeviceName ? ' as its root volume' : ''}.`,
      device,
    );
  }
  step(
    'cleanup',
    'worker-role',
    'Remove the temporary snapshots and volumes, withdraw shares and revoke grants (also after a failure).',
  );
  return { steps, resources };
}

/**
 * The plan from gathered facts: the checks, the mode, and the steps with their resources. `ok` is
 * false when any check failed. Steps are listed even then, so a person sees what would happen.
 */
export function planFromFacts(facts: PreflightFacts): PlanResult {
  const checks = runChecks(facts);
  const mode = determineMode(facts) ?? null;
  const { steps, resources } = mode ? planSteps(facts, mode) : { steps: [], resources: [] };
  const sharedKey = sharedKeyOf(facts, mode ?? undefined);
  return {
    ok: checks.every((c) => c.status !== 'fail'),
    mode,
    checks,
    steps,
    resources,
    sharedKey,
    launch: launchOf(facts),
  };
}
