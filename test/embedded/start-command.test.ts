import { execFileSync } from 'node:child_process';
import { DescribeInstancesCommand, DescribeVolumesCommand } from '@aws-sdk/client-ec2';
import { createAwsClients } from '@ec2-restore/aws-clients';
import { credentialsForAccount, DEMO_TARGET_ACCOUNT_ID, isPortOpen } from '@ec2-restore/local-aws';
import { afterAll, describe, expect, it } from 'vitest';
import { type Embedded, startEmbedded } from '../support/embedded.ts';

let embedded: Embedded | undefined;
afterAll(() => embedded?.stop());

describe('the README start command', () => {
  it('reaches ready, its printed curl restores the demo instance, and Ctrl-C stops everything', async () => {
    // As a newcomer runs it: no REDIS_URL, no AWS endpoint, no credentials.
    embedded = startEmbedded();
    const { waitForOutput } = embedded;
    const start = embedded.process;

    await waitForOutput(/ec2-restore is ready\./, 240_000);
    const endpoint = (await waitForOutput(/local AWS emulator: (http:\/\/127\.0\.0\.1:\d+)/, 1_000))[1]!;
    const redisPort = Number((await waitForOutput(/Redis: redis:\/\/127\.0\.0\.1:(\d+)/, 1_000))[1]);
    const apiUrl = (await waitForOutput(/API\s+(http:\/\/127\.0\.0\.1:\d+)/, 1_000))[1]!;
    const token = (await waitForOutput(/Bearer (demo-[0-9a-f]+)/, 1_000))[1]!;
    const curl = (await waitForOutput(/(curl -sS -X POST [\s\S]*?\}'\n)/, 1_000))[1]!;

    // Paste the printed curl into a shell, as the banner invites.
    const accepted = JSON.parse(execFileSync('sh', ['-c', curl], { encoding: 'utf8' })) as {
      id: string;
      mode: string;
    };
    expect(accepted.mode).toBe('cross-account');

    let restore: {
      status: string;
      result?: { instanceId: string; volumes: { volumeId: string; kmsKeyId: string }[] };
    } = { status: 'queued' };
    const deadline = Date.now() + 240_000;
    while (!['succeeded', 'failed', 'cancelled'].includes(restore.status) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 250));
      const response = await fetch(`${apiUrl}/v1/restores/${accepted.id}`, {
        headers: { authorization: `Bearer ${token}` },
      });
      restore = (await response.json()) as typeof restore;
    }
    expect(restore.status, JSON.stringify(restore)).toBe('succeeded');

    // The instance exists in the demo target account with volumes encrypted with the target key.
    const target = createAwsClients({
      region: 'eu-west-1',
      endpoint,
      credentials: credentialsForAccount(DEMO_TARGET_ACCOUNT_ID),
    });
    const instances = await target.ec2.send(
      new DescribeInstancesCommand({ InstanceIds: [restore.result!.instanceId] }),
    );
    expect(instances.Reservations?.[0]?.Instances?.[0]?.InstanceId).toBe(restore.result!.instanceId);
    const volumes = await target.ec2.send(
      new DescribeVolumesCommand({ VolumeIds: restore.result!.volumes.map((v) => v.volumeId) }),
    );
    expect(volumes.Volumes).toHaveLength(2);
    for (const volume of volumes.Volumes ?? []) {
      expect(volume.Encrypted).toBe(true);
      expect(volume.KmsKeyId).toBe(restore.result!.volumes[0]!.kmsKeyId);
    }
    target.destroy();

    // Ctrl-C: everything it started stops.
    const exited = new Promise<number | null>((done) => start.once('exit', (code) => done(code)));
    start.kill('SIGINT');
    expect(await exited).toBe(0);
    expect(await isPortOpen(redisPort)).toBe(false);
    expect(await isPortOpen(Number(new URL(endpoint).port))).toBe(false);
    expect(await isPortOpen(Number(new URL(apiUrl).port))).toBe(false);
  }, 600_000);
});
