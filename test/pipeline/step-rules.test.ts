import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import {
  AttachVolumeCommand,
  CreateSnapshotCommand,
  CreateTagsCommand,
  CreateVolumeCommand,
  DescribeInstancesCommand,
  DescribeSnapshotsCommand,
  DescribeVolumesCommand,
} from '@aws-sdk/client-ec2';
import { openBackupRepository } from '@ec2-restore/backup-repository';
import { type CleanupJobInput, JobName } from '@ec2-restore/contracts';
import { credentialsForAccount, onceVisible } from '@ec2-restore/local-aws';
import {
  BLOCKS_WRITTEN_TAG,
  cleanupRestore,
  createStepClients,
  type RestoreResourceTag,
  restoreTags,
  SOURCE_VOLUME_TAG,
  type StepClients,
  stepSnapshotDescription,
  tagSpecification,
  writeVolumeSnapshot,
} from '@ec2-restore/pipeline';
import { EbsDirectWriter } from '@ec2-restore/snapshot-writers';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  type Account,
  type Backup,
  createBackup,
  createKey,
  defaultSubnet,
  launchInstance,
  newAccount,
  REGION,
  removeBackup,
  snapshotJobInput,
  volumeInState,
} from '../support/index.ts';
import { generatedWorld } from './generated-world.ts';

/*
 * Rules of the steps that a retry or a failure must keep, each shown on the emulator through the
 * calls the step really sends (recorded by an SDK middleware on the step's own clients):
 * - cleanup never force-detaches a volume from an instance the restore did not launch (the
 *   customer's instance of a volume-level restore): "forcing ... can lead to data loss or a corrupted
 *   file system" (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DetachVolume.html).
 */

interface Sent {
  command: string;
  input: Record<string, unknown>;
}

/** Records every command the step clients send (source and target side). */
function record(clients: StepClients, restoreId: string): Sent[] {
  const sent: Sent[] = [];
  const note = (command: string | undefined, input: unknown) =>
    sent.push({ command: String(command), input: input as Record<string, unknown> });
  const options = { step: 'initialize', name: 'recordSentCommands' } as const;
  const sets = [clients.source(REGION), clients.target({ region: REGION, restoreId })];
  for (const { ec2, ebs } of new Set(sets)) {
    ec2.middlewareStack.add(
      (next, context) => (args) => {
        note(context.commandName, args.input);
        return next(args);
      },
      options,
    );
    ebs.middlewareStack.add(
      (next, context) => (args) => {
        note(context.commandName, args.input);
        return next(args);
      },
      options,
    );
  }
  return sent;
}
const named = (sent: Sent[], command: string) => sent.filter((s) => s.command === command);

describe('step rules on retry and failure', () => {
  let backup: Backup;
  const opened: Array<{ destroy(): void }> = [];
  beforeAll(async () => {
    backup = await createBackup(['/dev/xvda']);
  }, 300_000);
  afterAll(async () => {
    await removeBackup(backup);
  });
  afterEach(() => {
    for (const item of opened.splice(0)) item.destroy();
  });

  function world(): { account: Account; clients: StepClients } {
    const account = newAccount();
    const clients = createStepClients({ credentials: credentialsForAccount(account.id) });
    opened.push(account.aws, clients);
    return { account, clients };
  }

  /** A 1 GiB volume tagged for `owner`, once it is `available` (a new id may answer NotFound for a moment). */
  async function availableVolume(account: Account, owner: RestoreResourceTag): Promise<string> {
    const { zone } = await defaultSubnet(account);
    const { VolumeId = '' } = await account.aws.ec2.send(
      new CreateVolumeCommand({
        AvailabilityZone: zone,
        Size: 1,
        TagSpecifications: tagSpecification('volume', restoreTags(owner)),
      }),
    );
    await volumeInState(account, VolumeId);
    return VolumeId;
  }

  /** A volume of the instance step of `restoreId`, attached to `instanceId`. */
  async function restoredVolumeOn(account: Account, restoreId: string, instanceId: string, device: string) {
    const VolumeId = await availableVolume(account, {
      restoreId,
      step: JobName.Instance,
      deviceName: device,
    });
    await account.aws.ec2.send(new AttachVolumeCommand({ VolumeId, InstanceId: instanceId, Device: device }));
    return VolumeId;
  }

  const cleanupInput = (account: Account, restoreId: string): CleanupJobInput => ({
    restoreId,
    mode: 'same-account',
    region: REGION,
    sourceAccountId: account.id,
    targetAccountId: account.id,
    outcome: 'failed',
  });

  it("cleanup of a failed volume-level restore detaches its volume from the customer's running instance without force, then deletes it; the instance keeps running", async () => {
    const { account, clients } = world();
    const restoreId = randomUUID();
    const customer = await launchInstance(account);
    const volumeId = await restoredVolumeOn(account, restoreId, customer, '/dev/xvdf');
    const sent = record(clients, restoreId);

    const result = await cleanupRestore(cleanupInput(account, restoreId), {
      clients,
      checkpoint: async () => {},
    });

    const detaches = named(sent, 'DetachVolumeCommand');
    expect(detaches.map((d) => d.input.VolumeId)).toContain(volumeId);
    for (const detach of detaches) expect(detach.input.Force).toBeUndefined();
    expect(result.deletedVolumes).toEqual([volumeId]);
    expect(result.terminatedInstances).toEqual([]);
    const { Reservations = [] } = await account.aws.ec2.send(
      new DescribeInstancesCommand({ InstanceIds: [customer] }),
    );
    expect(Reservations[0]?.Instances?.[0]?.State?.Name).toBe('running');
    await expect(
      account.aws.ec2.send(new DescribeVolumesCommand({ VolumeIds: [volumeId] })),
    ).rejects.toMatchObject({ name: 'InvalidVolume.NotFound' });
  });

  it('cleanup of a failed whole-instance restore may force the detach from the instance the restore launched, and terminates it', async () => {
    const { account, clients } = world();
    const restoreId = randomUUID();
    const launched = await launchInstance(account, restoreTags({ restoreId, step: JobName.Instance }));
    const volumeId = await restoredVolumeOn(account, restoreId, launched, '/dev/xvdf');
    const sent = record(clients, restoreId);

    const result = await cleanupRestore(cleanupInput(account, restoreId), {
      clients,
      checkpoint: async () => {},
    });

    expect(result.terminatedInstances).toEqual([launched]);
    expect(result.deletedVolumes).toContain(volumeId);
    for (const detach of named(sent, 'DetachVolumeCommand')) expect(detach.input.InstanceId).toBe(launched);
  });

  it("cleanup deletes the snapshots its snapshot step made and leaves one another tool took of the restore's worker volume with its tags copied", async () => {
    const { account, clients } = world();
    const restoreId = randomUUID();
    const owner = { restoreId, step: JobName.Snapshot, deviceName: '/dev/xvda' };
    const VolumeId = await availableVolume(account, owner);
    // The step's snapshot of its temporary volume, as the worker-volume path makes it.
    const own = await account.aws.ec2.send(
      new CreateSnapshotCommand({
        VolumeId,
        Description: stepSnapshotDescription(restoreId, owner.deviceName),
        TagSpecifications: tagSpecification(
          'snapshot',
          restoreTags(owner, { [SOURCE_VOLUME_TAG]: VolumeId }),
        ),
      }),
    );
    // A backup tool snapshotting every volume, copying the volume's tags onto its snapshot.
    const foreign = await account.aws.ec2.send(
      new CreateSnapshotCommand({
        VolumeId,
        Description: 'Created by a backup plan',
        TagSpecifications: tagSpecification('snapshot', restoreTags(owner)),
      }),
    );
    // Cleanup runs long after the step made its snapshot: wait until both new ids answer.
    await onceVisible(() =>
      account.aws.ec2.send(
        new DescribeSnapshotsCommand({ SnapshotIds: [own.SnapshotId ?? '', foreign.SnapshotId ?? ''] }),
      ),
    );

    const result = await cleanupRestore(cleanupInput(account, restoreId), {
      clients,
      checkpoint: async () => {},
    });

    expect(result.deletedSnapshots).toEqual([own.SnapshotId]);
    expect(result.deletedVolumes).toEqual([VolumeId]);
    const { Snapshots = [] } = await account.aws.ec2.send(
      new DescribeSnapshotsCommand({ OwnerIds: ['self'] }),
    );
    expect(Snapshots.map((s) => s.SnapshotId)).toEqual([foreign.SnapshotId]);
  });

  it('ebs-direct: a step that finds its snapshot with every block written only completes it and waits; the data is the restore point', async () => {
    const { account, clients } = world();
    const keyArn = (await createKey(account)).Arn;
    const restoreId = randomUUID();
    const repository = openBackupRepository(join(backup.folder, 'repo'));
    const volume = backup.restorePoint.volumes[0]!;
    const input = snapshotJobInput(
      account.id,
      keyArn,
      restoreId,
      { id: backup.restorePoint.id, volume },
      {
        verify: true,
      },
    );

    // The earlier attempt: every block written and marked, then the worker died before CompleteSnapshot.
    const { ec2, ebs } = clients.source(REGION);
    const died = new Error('worker killed after the blocks-written mark');
    const earlier = new EbsDirectWriter({ repository, ebs, ec2, awaitCompletion: false });
    await expect(
      earlier.writeVolume({
        restorePointId: input.restorePointId,
        deviceName: volume.deviceName,
        target: {
          restoreId,
          step: JobName.Snapshot,
          kmsKeyArn: keyArn,
          onBlocksWritten: async (id) => {
            await ec2.send(
              new CreateTagsCommand({ Resources: [id], Tags: [{ Key: BLOCKS_WRITTEN_TAG, Value: 'true' }] }),
            );
            throw died;
          },
        },
      }),
    ).rejects.toBe(died);
    const { Snapshots: [pending] = [] } = await account.aws.ec2.send(
      new DescribeSnapshotsCommand({ OwnerIds: ['self'] }),
    );
    expect(pending?.State).toBe('pending');

    // The retry.
    const sent = record(clients, restoreId);
    const result = await writeVolumeSnapshot(input, {
      clients,
      checkpoint: async () => {},
      repository,
      progress: () => {},
    });
    expect(named(sent, 'PutSnapshotBlockCommand')).toEqual([]);
    expect(named(sent, 'StartSnapshotCommand').length).toBeLessThanOrEqual(1);
    expect(named(sent, 'CompleteSnapshotCommand')).toHaveLength(1);
    expect(result.snapshotId).toBe(pending?.SnapshotId);
    // verify: true read every block back and found it equal to the restore point.
    expect(named(sent, 'GetSnapshotBlockCommand').length).toBeGreaterThan(0);
    const { Snapshots: [after] = [] } = await account.aws.ec2.send(
      new DescribeSnapshotsCommand({ SnapshotIds: [result.snapshotId] }),
    );
    expect(after?.State).toBe('completed');
  });

  it('worker-volume on a snapshot worker without WORKER_INSTANCE_ID fails at once, saying what to configure, and creates nothing', async () => {
    const { account, clients } = world();
    const keyArn = (await createKey(account)).Arn;
    const volume = backup.restorePoint.volumes[0]!;
    const run = writeVolumeSnapshot(
      snapshotJobInput(
        account.id,
        keyArn,
        randomUUID(),
        { id: backup.restorePoint.id, volume },
        {
          dataPath: 'worker-volume',
        },
      ),
      {
        clients,
        checkpoint: async () => {},
        repository: openBackupRepository(backup.repositoryPath),
        progress: () => {},
      },
    );
    await expect(run).rejects.toMatchObject({
      name: 'PermanentStepError',
      message: expect.stringMatching(/WORKER_INSTANCE_ID.*ebs-direct/s),
    });
    const { Volumes = [] } = await account.aws.ec2.send(new DescribeVolumesCommand({}));
    expect(Volumes).toEqual([]);
  });
});

/*
 * Issue: the policy generator lacked ec2:DetachVolume, ec2:DeleteVolume and ec2:TerminateInstances,
 * so the cleanup of a failed restore run with the generated policies was refused and leaked what the
 * restore made. Here cleanup runs as the generated worker role (assuming the generated restore role
 * in the target account) after a failed cross-account restore.
 */
describe('cleanup of a failed restore as principals holding only the generated policies', () => {
  it('terminates the instance the restore launched, deletes its volumes and the worker volume', async () => {
    const world = await generatedWorld({ mode: 'cross-account', dataPath: 'ebs-direct', kmsGrant: 'auto' });
    const clients = createStepClients({ credentials: world.workerCredentials() });
    try {
      const restoreId = randomUUID();
      const launched = await launchInstance(world.target, restoreTags({ restoreId, step: JobName.Instance }));
      const { zone } = await defaultSubnet(world.target);
      const created = async (account: Account, step: string, availabilityZone: string) => {
        const { VolumeId = '' } = await account.aws.ec2.send(
          new CreateVolumeCommand({
            AvailabilityZone: availabilityZone,
            Size: 1,
            TagSpecifications: tagSpecification(
              'volume',
              restoreTags({ restoreId, step, deviceName: '/dev/xvdf' }),
            ),
          }),
        );
        await volumeInState(account, VolumeId);
        return VolumeId;
      };
      const restored = await created(world.target, JobName.Instance, zone);
      await world.target.aws.ec2.send(
        new AttachVolumeCommand({ VolumeId: restored, InstanceId: launched, Device: '/dev/xvdf' }),
      );
      const workerVolume = await created(
        world.source,
        JobName.Snapshot,
        (await defaultSubnet(world.source)).zone,
      );

      const result = await cleanupRestore(
        {
          restoreId,
          mode: 'cross-account',
          region: REGION,
          sourceAccountId: world.source.id,
          targetAccountId: world.target.id,
          ...(world.restoreRoleArn ? { roleArn: world.restoreRoleArn } : {}),
          ...(world.externalId ? { externalId: world.externalId } : {}),
          outcome: 'failed',
        },
        { clients, checkpoint: async () => {} },
      );

      expect(result.terminatedInstances).toEqual([launched]);
      expect([...result.deletedVolumes].sort()).toEqual([restored, workerVolume].sort());
    } finally {
      clients.destroy();
      world.destroy();
    }
  });
});
