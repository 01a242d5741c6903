import type { LaunchStrategy } from '@ec2-restore/contracts';
import type { RestoreShape } from './requirements.ts';

/**
 * Every EC2, EBS direct and STS action a restore's steps call, as data: which principal calls it,
 * in which steps, and whether EC2 lets the pre-flight try it with `DryRun`. The policy generator
 * grants exactly these (the KMS side comes from the key operations in operations.ts), the pre-flight
 * checks them as the principal that will call them, and a unit test reads the steps' source to
 * prove that no SDK command is missing here.
 */

/**
 * The restore's shape, whether it reads its snapshots back (`verify`), and how it launches the
 * instance: a launch strategy, `null` for a volume-level restore (no launch), absent when not known
 * (the policy generator: every strategy's actions). Only the SSM read of launch-and-swap depends on it.
 */
export type StepShape = RestoreShape & { verify?: boolean; launch?: LaunchStrategy | null };

export type StepPrincipal = 'worker-role' | 'restore-role';

/** Where an action is called (for messages and for the audit). */
export type CallSite = 'snapshot' | 'share' | 'instance' | 'cleanup' | 'sweep' | 'preflight';

export interface StepAction {
  /** The IAM action, `ec2:CreateVolume`. */
  action: string;
  /** Who calls it. */
  principal: StepPrincipal;
  calledBy: CallSite[];
  /**
   * EC2 accepts `DryRun` on it: AWS checks the permission without doing anything and answers
   * `DryRunOperation` (allowed) or `UnauthorizedOperation`
   * (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/CommonParameters.html). The EBS direct
   * APIs and STS have no such parameter: those are checked by evaluating the IAM policies.
   */
  dryRun: boolean;
}

type Need = [action: string, calledBy: CallSite[]];

const ec2 = (name: string) => `ec2:${name}`;

/** The worker role in the source account: writes the snapshots, shares them, cleans up there. */
function workerNeeds(shape: StepShape): Need[] {
  const needs: Need[] = [];
  const cross = shape.mode === 'cross-account';
  if (shape.dataPath === 'ebs-direct') {
    // StartSnapshot/PutSnapshotBlock/CompleteSnapshot write; DescribeSnapshots finds and waits.
    needs.push(
      ['ebs:StartSnapshot', ['snapshot']],
      ['ebs:PutSnapshotBlock', ['snapshot']],
      ['ebs:CompleteSnapshot', ['snapshot']],
      // StartSnapshot's Tags and the "blocks written" mark are EC2 tags on the snapshot.
      [ec2('CreateTags'), ['snapshot']],
    );
    // Reading the snapshot back (request option `verify`).
    // https://docs.aws.amazon.com/ebs/latest/userguide/ebsapi-permissions.html
    if (shape.verify)
      needs.push(['ebs:ListSnapshotBlocks', ['snapshot']], ['ebs:GetSnapshotBlock', ['snapshot']]);
  } else {
    needs.push(
      [ec2('DescribeInstances'), ['snapshot']],
      [ec2('CreateVolume'), ['snapshot']],
      [ec2('CreateTags'), ['snapshot']],
      [ec2('AttachVolume'), ['snapshot']],
      [ec2('DetachVolume'), ['snapshot', 'cleanup']],
      [ec2('CreateSnapshot'), ['snapshot']],
    );
  }
  needs.push(
    [ec2('DescribeSnapshots'), ['snapshot', 'cleanup', 'sweep']],
    [ec2('DescribeVolumes'), ['snapshot', 'cleanup', 'sweep']],
    [ec2('DeleteSnapshot'), ['cleanup', 'sweep']],
    [ec2('DeleteVolume'), ['snapshot', 'cleanup', 'sweep']],
    [ec2('DetachVolume'), ['cleanup', 'sweep']],
    // Cleanup and the sweep mark a volume they asked to detach (the start of its bounded wait).
    [ec2('CreateTags'), ['cleanup', 'sweep']],
    // Removing a snapshot withdraws every share it has first (aws-resources removeSnapshot).
    [ec2('DescribeSnapshotAttribute'), ['cleanup', 'sweep']],
    [ec2('ModifySnapshotAttribute'), ['cleanup', 'sweep']],
    // The sweep looks for the register-image strategy's temporary images in every account it searches.
    [ec2('DescribeImages'), ['sweep']],
  );
  if (cross) {
    needs.push(
      [ec2('GetEbsDefaultKmsKeyId'), ['snapshot', 'share', 'cleanup', 'preflight']],
      [ec2('GetEbsEncryptionByDefault'), ['preflight']],
      // An ebs-direct snapshot step shares its snapshot while the blocks are written (snapshot.ts
      // shareWhileWriting); the share step shares whatever is not shared yet.
      [ec2('ModifySnapshotAttribute'), shape.dataPath === 'ebs-direct' ? ['snapshot', 'share'] : ['share']],
    );
  }
  if (shape.hasRestoreRole) needs.push(['sts:AssumeRole', ['instance', 'cleanup', 'share', 'preflight']]);
  return needs;
}

/** The principal in the target account (the restore role, else the worker role): the instance and its volumes. */
function targetNeeds(shape: StepShape): Need[] {
  return [
    // Pre-flight: the network and the instance type.
    [ec2('DescribeSubnets'), ['preflight', 'instance']],
    [ec2('DescribeSecurityGroups'), ['preflight']],
    [ec2('DescribeVpcs'), ['preflight']],
    [ec2('DescribeInstanceTypes'), ['preflight']],
    [ec2('DescribeAvailabilityZones'), ['instance']],
    // The instance step.
    [ec2('DescribeImages'), ['instance', 'cleanup', 'sweep']],
    [ec2('RunInstances'), ['instance']],
    [ec2('CreateTags'), ['instance', 'cleanup', 'sweep']],
    [ec2('DescribeInstances'), ['instance', 'cleanup', 'preflight']],
    [ec2('StopInstances'), ['instance']],
    [ec2('StartInstances'), ['instance']],
    [ec2('CreateVolume'), ['instance']],
    [ec2('DescribeVolumes'), ['instance', 'cleanup', 'sweep']],
    [ec2('AttachVolume'), ['instance']],
    [ec2('DetachVolume'), ['instance', 'cleanup', 'sweep']],
    [ec2('DeleteVolume'), ['instance', 'cleanup', 'sweep']],
    // Launch strategies (docs/architecture.md#launch-strategies). register-image: the root snapshot
    // copied with the target key (another account), the temporary image; cleanup and the sweep remove
    // both (they look for them by tag whatever strategy the restore used).
    [ec2('CopySnapshot'), ['instance']],
    [ec2('DescribeSnapshots'), ['instance', 'cleanup', 'sweep']],
    [ec2('RegisterImage'), ['instance']],
    [ec2('DeregisterImage'), ['cleanup', 'sweep']],
    [ec2('DescribeSnapshotAttribute'), ['cleanup', 'sweep']],
    [ec2('DeleteSnapshot'), ['cleanup', 'sweep']],
    // launch-and-swap: DeleteOnTermination as recorded; AWS's public parameters name the base image
    // (SSM: asked of the restores that launch this way only, as it is outside the EC2 permissions a
    // restore role usually has).
    [ec2('ModifyInstanceAttribute'), ['instance']],
    ...(shape.launch === undefined || shape.launch === 'launch-and-swap'
      ? [['ssm:GetParametersByPath', ['instance']] as Need]
      : []),
    // Cleanup of a restore that did not succeed.
    [ec2('TerminateInstances'), ['cleanup']],
    ...(shape.mode === 'cross-account' ? [] : ([] as Need[])),
  ];
}

/**
 * EC2 actions the pre-flight tries with `DryRun`: those that change something (every EC2 action takes
 * the parameter). The reads (Describe*, Get*) are decided from the IAM policies instead: a dry read
 * costs as much as a real one on some implementations, and the pre-flight has a deadline.
 */
function takesDryRun(action: string): boolean {
  return action.startsWith('ec2:') && !/^ec2:(Describe|Get)/.test(action);
}

function collect(needs: Need[], principal: StepPrincipal, into: Map<string, StepAction>): void {
  for (const [action, calledBy] of needs) {
    const key = `${principal}|${action}`;
    const existing = into.get(key);
    if (existing) {
      existing.calledBy = [...new Set([...existing.calledBy, ...calledBy])];
      continue;
    }
    into.set(key, { action, principal, calledBy: [...calledBy], dryRun: takesDryRun(action) });
  }
}

/**
 * The EC2 / EBS / STS actions of one restore configuration, per principal. Without a restore role
 * (same account) the worker role does the target account's part too.
 */
export function stepActions(shape: StepShape): StepAction[] {
  const actions = new Map<string, StepAction>();
  collect(workerNeeds(shape), 'worker-role', actions);
  collect(targetNeeds(shape), shape.hasRestoreRole ? 'restore-role' : 'worker-role', actions);
  return [...actions.values()].sort((a, b) => byName(a.principal, b.principal) || byName(a.action, b.action));
}

/**
 * Alphabetical order of ASCII names, letter case aside: the order `localeCompare` gives them, without
 * the cost of its first call in a process (ICU's collation data, 10-20 ms: the first plan paid it).
 */
function byName(a: string, b: string): number {
  const [x, y] = [a.toLowerCase(), b.toLowerCase()];
  return x < y ? -1 : x > y ? 1 : 0;
}

/** The actions one principal needs, sorted. */
export function actionsOf(shape: StepShape, principal: StepPrincipal): string[] {
  return stepActions(shape)
    .filter((a) => a.principal === principal)
    .map((a) => a.action);
}
