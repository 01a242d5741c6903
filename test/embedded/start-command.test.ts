import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { DescribeInstancesCommand, DescribeVolumesCommand } from '@aws-sdk/client-ec2';
import { createAwsClients } from '@ec2-restore/aws-clients';
import { credentialsForAccount, DEMO_TARGET_ACCOUNT_ID, isPortOpen } from '@ec2-restore/local-aws';
import { afterAll, describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '..', '..');
const dataDir = mkdtempSync(join(tmpdir(), 'ec2-restore-start-'));
let start: ChildProcess | undefined;
let output = '';

afterAll(async () => {
  if (start && start.exitCode === null) {
    start.kill('SIGKILL');
  }
  rmSync(dataDir, { recursive: true, force: true });
});

async function waitForOutput(pattern: RegExp, timeoutMs: number): Promise<RegExpExecArray> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const match = pattern.exec(output);
    if (match) return match;
    if (start?.exitCode !== null) throw new Error(`the start command exited early:\n${output}`);
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`timed out waiting for ${pattern}:\n${output}`);
}

describe('the README start command', () => {
  it('reaches ready, its printed curl restores the demo instance, and Ctrl-C stops everything', async () => {
    // As a newcomer runs it: no REDIS_URL, no AWS endpoint, no credentials.
    const env: NodeJS.ProcessEnv = { ...process.env, EC2_RESTORE_DATA_DIR: dataDir };
    for (const name of [
      'REDIS_URL',
      'AWS_ENDPOINT_URL',
      'AWS_ACCESS_KEY_ID',
      'AWS_SECRET_ACCESS_KEY',
      'AWS_PROFILE',
    ]) {
      delete env[name];
    }
    start = spawn(process.execPath, ['--import', 'tsx', 'scripts/start.ts'], { cwd: root, env });
    start.stdout?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    start.stderr?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });

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
      await new Promise((r) => setTimeout(r, 1_000));
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
    const exited = new Promise<number | null>((done) => start!.once('exit', (code) => done(code)));
    start.kill('SIGINT');
    expect(await exited).toBe(0);
    expect(await isPortOpen(redisPort)).toBe(false);
    expect(await isPortOpen(Number(new URL(endpoint).port))).toBe(false);
    expect(await isPortOpen(Number(new URL(apiUrl).port))).toBe(false);
  }, 600_000);
});
