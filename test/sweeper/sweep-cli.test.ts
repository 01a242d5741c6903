/**
 * `pnpm sweep` as an operator runs it: a real process, configured from the environment, against the
 * emulator and Redis.
 */
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { CreateVolumeCommand, DescribeVolumesCommand } from '@aws-sdk/client-ec2';
import { RestoreTag } from '@ec2-restore/contracts';
import { credentialsForAccount } from '@ec2-restore/local-aws';
import type { SweepReport } from '@ec2-restore/sweeper';
import { describe, expect, it } from 'vitest';
import { createRestoreRole, defaultSubnet, newAccount, REGION } from '../support/index.ts';

const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));
const run = promisify(execFile);

async function sweepCli(args: string[], env: Record<string, string>) {
  try {
    const { stdout, stderr } = await run(
      'node',
      ['--import', 'tsx', 'packages/sweeper/src/cli.ts', ...args],
      {
        cwd: REPO_ROOT,
        env: {
          PATH: process.env.PATH ?? '',
          AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
          ...env,
        },
        timeout: 60_000,
      },
    );
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

describe('pnpm sweep', () => {
  it('removes a target-account leftover of an unknown restore through SWEEP_TARGET_ROLES', async () => {
    const source = newAccount();
    const target = newAccount();
    const externalId = `ext-${randomUUID().slice(0, 8)}`;
    const roleArn = await createRestoreRole(target, source.id, externalId);
    const { zone } = await defaultSubnet(target);
    const { VolumeId } = await target.aws.ec2.send(
      new CreateVolumeCommand({
        AvailabilityZone: zone,
        Size: 1,
        TagSpecifications: [
          {
            ResourceType: 'volume',
            Tags: [
              { Key: RestoreTag.RestoreId, Value: `cli-${randomUUID().slice(0, 8)}` },
              { Key: RestoreTag.Step, Value: 'instance-launch-root' },
            ],
          },
        ],
      }),
    );
    const credentials = credentialsForAccount(source.id);
    const env = {
      REDIS_URL: process.env.REDIS_URL as string,
      STATE_PREFIX: `test-sweeper-cli-${randomUUID()}:`,
      AWS_REGION: REGION,
      AWS_ENDPOINT_URL: process.env.AWS_ENDPOINT_URL as string,
      AWS_ACCESS_KEY_ID: credentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey,
      SWEEP_TARGET_ROLES: `${roleArn}#${externalId}`,
    };

    const dry = await sweepCli(['--dry-run', '--min-age', '0'], env);
    expect(dry.stderr).toBe('');
    expect(dry.code).toBe(0);
    expect(dry.stdout).toContain(`would remove volume ${VolumeId} (${target.id}`);

    const real = await sweepCli(['--min-age', '0', '--json'], env);
    expect(real.code).toBe(0);
    const report = JSON.parse(real.stdout) as SweepReport;
    expect(report.removed.map((r) => r.resource.id)).toEqual([VolumeId]);
    const { Volumes = [] } = await target.aws.ec2
      .send(new DescribeVolumesCommand({ VolumeIds: [VolumeId ?? ''] }))
      .catch(() => ({ Volumes: [] }));
    expect(Volumes.filter((v) => v.State !== 'deleted')).toEqual([]);
  });

  it('refuses a wrong role list naming the variable, exit code 2', async () => {
    const result = await sweepCli(['--dry-run'], {
      REDIS_URL: 'redis://127.0.0.1:1',
      AWS_REGION: REGION,
      SWEEP_TARGET_ROLES: 'Restore',
    });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('SWEEP_TARGET_ROLES: "Restore" is not a role ARN');
  });
});
