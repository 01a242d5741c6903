import { randomBytes } from 'node:crypto';
import { CompleteSnapshotCommand, StartSnapshotCommand } from '@aws-sdk/client-ebs';
import { CreateVolumeCommand, DescribeVolumesCommand } from '@aws-sdk/client-ec2';
import { CreateKeyCommand } from '@aws-sdk/client-kms';
import { type AwsClients, classifyAwsError, createAwsClients } from '@ec2-restore/aws-clients';
import { credentialsForAccount, randomAccountId } from '@ec2-restore/local-aws';
import { afterEach, describe, expect, it } from 'vitest';
import { type FaultProxy, injectedFor, seededRandom, startFaultProxy } from '../support/fault-proxy.ts';
import {
  blockChecksum,
  putBlock,
  readBlock,
  untilSnapshotCompleted,
  untilSnapshotVisible,
} from '../support/index.ts';

const REGION = 'eu-west-1';
const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function proxy(options: Parameters<typeof startFaultProxy>[0]): Promise<FaultProxy> {
  const started = await startFaultProxy(options);
  cleanups.push(() => started.close());
  return started;
}

function clients(endpoint: string, accountId: string, maxAttempts: number): AwsClients {
  const made = createAwsClients({
    region: REGION,
    endpoint,
    credentials: credentialsForAccount(accountId),
    maxAttempts,
  });
  cleanups.push(() => made.destroy());
  return made;
}

describe('fault proxy', () => {
  it('at 30% faults, an EC2 client with standard retries still completes every call, without duplicates', async () => {
    const emulator = process.env.AWS_ENDPOINT_URL!;
    const faulty = await proxy({ target: emulator, faultRate: 0.3, random: seededRandom(7) });
    const account = randomAccountId();
    // 10 attempts: a call fails only if all ten are faulted (0.3^10 ≈ 6e-6).
    const viaProxy = clients(faulty.endpoint, account, 10);

    const created = await Promise.all(
      Array.from({ length: 10 }, () =>
        viaProxy.ec2.send(new CreateVolumeCommand({ AvailabilityZone: `${REGION}a`, Size: 1 })),
      ),
    );
    const described = await Promise.all(
      Array.from({ length: 20 }, () => viaProxy.ec2.send(new DescribeVolumesCommand({}))),
    );

    expect(created.every((v) => v.VolumeId?.startsWith('vol-'))).toBe(true);
    expect(described.every((d) => Array.isArray(d.Volumes))).toBe(true);
    const retried = [...created, ...described].filter((out) => (out.$metadata.attempts ?? 1) > 1);
    expect(retried.length).toBeGreaterThan(0);

    const counts = faulty.counts();
    expect(injectedFor(counts, 'CreateVolume')).toBeGreaterThan(0);
    expect(injectedFor(counts, 'DescribeVolumes')).toBeGreaterThan(0);
    expect(counts.injectedTotal.RequestLimitExceeded).toBeGreaterThan(0);
    expect(counts.injectedTotal.Unavailable).toBeGreaterThan(0);
    // Each call was seen once per attempt; faulted attempts plus the final successes add up.
    expect(counts.ec2Calls.CreateVolume).toBe(10 + injectedFor(counts, 'CreateVolume'));
    expect(counts.ec2Calls.DescribeVolumes).toBe(20 + injectedFor(counts, 'DescribeVolumes'));

    // A faulted call never reached the emulator: exactly 10 volumes exist, none made twice.
    const direct = clients(emulator, account, 1);
    const volumes = (await direct.ec2.send(new DescribeVolumesCommand({}))).Volumes ?? [];
    expect(volumes.map((v) => v.VolumeId).sort()).toEqual(created.map((v) => v.VolumeId).sort());
  });

  it("answers with AWS's own throttling error, which the SDK and classifyAwsError read as throttling", async () => {
    const faulty = await proxy({
      target: process.env.AWS_ENDPOINT_URL!,
      faultRate: 1,
      faults: ['RequestLimitExceeded'],
    });
    const once = clients(faulty.endpoint, randomAccountId(), 1);
    const error = await once.ec2.send(new DescribeVolumesCommand({})).then(
      () => undefined,
      (e: unknown) => e as Error & { $metadata: { httpStatusCode?: number; requestId?: string } },
    );
    expect(error?.name).toBe('RequestLimitExceeded');
    expect(error?.message).toBe('Request limit exceeded.');
    expect(error?.$metadata.httpStatusCode).toBe(503);
    expect(error?.$metadata.requestId).toMatch(/^[0-9a-f-]{36}$/);
    expect(classifyAwsError(error)).toMatchObject({ category: 'throttling', retryable: true });
  });

  it('fails only the EC2 actions it is told to', async () => {
    const faulty = await proxy({
      target: process.env.AWS_ENDPOINT_URL!,
      faultRate: 1,
      faults: ['Unavailable'],
      eligible: (action) => action === 'CreateVolume',
    });
    const once = clients(faulty.endpoint, randomAccountId(), 1);
    await expect(once.ec2.send(new DescribeVolumesCommand({}))).resolves.toMatchObject({ Volumes: [] });
    await expect(
      once.ec2.send(new CreateVolumeCommand({ AvailabilityZone: `${REGION}a`, Size: 1 })),
    ).rejects.toMatchObject({ name: 'Unavailable', $metadata: { httpStatusCode: 503 } });
    expect(faulty.counts().injected).toEqual({ CreateVolume: { Unavailable: 1 } });
  });

  it('passes other services through unchanged, binary EBS direct blocks included, even at 100% EC2 faults', async () => {
    const faulty = await proxy({ target: process.env.AWS_ENDPOINT_URL!, faultRate: 1 });
    const accountId = randomAccountId();
    const once = clients(faulty.endpoint, accountId, 1);

    const key = await once.kms.send(new CreateKeyCommand({}));
    expect(key.KeyMetadata?.Arn).toMatch(/^arn:aws:kms:/);

    const started = await once.ebs.send(
      new StartSnapshotCommand({ VolumeSize: 1, Encrypted: true, KmsKeyArn: key.KeyMetadata!.Arn! }),
    );
    // A new snapshot does not exist for a moment: wait for it beside the proxy (its counts stay exact).
    const direct = clients(process.env.AWS_ENDPOINT_URL!, accountId, 1);
    await untilSnapshotVisible(direct.ebs, started.SnapshotId!);
    const blockSize = started.BlockSize!;
    const data = randomBytes(blockSize);
    await putBlock(once.ebs, started.SnapshotId!, 2, data);
    await once.ebs.send(
      new CompleteSnapshotCommand({ SnapshotId: started.SnapshotId!, ChangedBlocksCount: 1 }),
    );
    // EBS direct reads it once completed: waited for beside the proxy too.
    await untilSnapshotCompleted(direct.ec2, started.SnapshotId!);
    const read = await readBlock(once.ebs, started.SnapshotId!, 2);
    expect(read.data.equals(data)).toBe(true);
    expect(read.checksum).toBe(blockChecksum(data));

    const counts = faulty.counts();
    expect(counts.ec2Calls).toEqual({});
    expect(counts.forwarded).toBe(6);
  });
});
