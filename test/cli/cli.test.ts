import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { openBackupRepository } from '@ec2-restore/backup-repository';
import { createDemoRestorePoint } from '@ec2-restore/demo';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nodeArgsFor } from '../support/compiled.ts';
import { type Embedded, REPO_ROOT, startEmbedded } from '../support/embedded.ts';

/**
 * The `ec2-restore` CLI as a user runs it: against the embedded default (`scripts/start.ts`, as
 * `bash scripts/start.sh` starts it) in its own process, the CLI in another, its terminal output
 * through a pseudo-terminal (util-linux `script`), every exit code.
 */

let embedded: Embedded;
let dataDir = '';
let demoRequestFile = '';
let apiUrl = '';
let token = '';

interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the CLI (compiled, as its release: test/support/compiled.ts) with the given environment. */
function cli(args: string[], options: { env?: NodeJS.ProcessEnv; tty?: boolean } = {}): Promise<CliRun> {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    EC2_RESTORE_ENDPOINT: apiUrl,
    EC2_RESTORE_TOKEN: token,
    ...options.env,
  };
  for (const [name, value] of Object.entries(env)) if (value === undefined) delete env[name];
  const command = [process.execPath, ...nodeArgsFor('packages/cli/src/main.ts'), ...args];
  // `script -q -e -c CMD /dev/null` runs CMD on a new pseudo-terminal and exits with its code.
  const [file, argv] = options.tty
    ? ['script', ['-q', '-e', '-c', command.map(shellQuote).join(' '), '/dev/null']]
    : [command[0]!, command.slice(1)];
  return new Promise((done, fail) => {
    const child = spawn(file as string, argv as string[], {
      cwd: REPO_ROOT,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.on('error', fail);
    child.on('close', (code) => done({ code, stdout, stderr }));
  });
}

function shellQuote(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

/** What a person sees once the terminal has applied the control sequences (last frame of each line). */
function plain(text: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: stripping ANSI escape sequences
  return text.replace(/\x1b\[[0-9;]*[A-Za-z]/g, '').replace(/\r/g, '');
}

beforeAll(async () => {
  embedded = startEmbedded();
  dataDir = embedded.dataDir;
  demoRequestFile = join(dataDir, 'demo-request.json');
  await embedded.waitForOutput(/Ctrl-C stops everything this command started/, 240_000);
  ({ apiUrl, token } = JSON.parse(readFileSync(join(dataDir, 'embedded.json'), 'utf8')) as {
    apiUrl: string;
    token: string;
  });
}, 300_000);

afterAll(() => embedded?.stop());

describe('the ec2-restore CLI against the embedded default', () => {
  it('lists restore points and plans the demo restore (--json parses, exit 0)', async () => {
    const points = await cli(['points', '--json']);
    expect(points.code, points.stderr).toBe(0);
    const { restorePoints } = JSON.parse(points.stdout) as { restorePoints: { id: string }[] };
    expect(restorePoints.map((point) => point.id)).toContain('rp-demo-web-1');

    const plan = await cli(['plan', '--file', demoRequestFile, '--json']);
    expect(plan.code, plan.stderr).toBe(0);
    const parsed = JSON.parse(plan.stdout) as { ok: boolean; mode: string; steps: { name: string }[] };
    expect(parsed.ok).toBe(true);
    expect(parsed.mode).toBe('cross-account');
    expect(parsed.steps.map((step) => step.name)).toContain('create-instance');
  });

  it('restores the demo with live progress in a terminal, with --json for scripts, and a damaged backup fails (exit 1)', async () => {
    // The banner tells a new user how to run the demo restore with the CLI.
    expect(embedded.output()).toContain('pnpm ec2-restore restore --file');

    // A restore point with a block missing from the repository: the pre-flight checks pass (they read
    // the manifest), the snapshot step cannot read the block.
    const repository = openBackupRepository(join(dataDir, 'backups'), { region: 'eu-west-1' });
    const blocks = () =>
      new Set(
        readdirSync(join(dataDir, 'backups', 'blocks'), { recursive: true })
          .map(String)
          .filter((path) => path.includes('/')),
      );
    const before = blocks();
    await createDemoRestorePoint(repository, { id: 'rp-damaged', seed: 'damaged' });
    const ownBlocks = [...blocks()].filter((path) => !before.has(path));
    expect(ownBlocks.length).toBeGreaterThan(0);
    rmSync(join(dataDir, 'backups', 'blocks', ownBlocks[0]!));

    const demoRequest = JSON.parse(readFileSync(demoRequestFile, 'utf8')) as {
      restorePointId: string;
      target: { accountId: string; region: string; roleArn: string; externalId: string; kmsKeyId: string };
      instance: { subnetId: string; securityGroupIds: string[] };
    };
    const [terminal, json, damaged] = await Promise.all([
      // As a new user: no endpoint or token given, the CLI finds the running embedded default.
      cli(['restore', '--file', demoRequestFile], {
        tty: true,
        env: { EC2_RESTORE_ENDPOINT: undefined, EC2_RESTORE_TOKEN: undefined, EC2_RESTORE_DATA_DIR: dataDir },
      }),
      // Every field from flags, JSON out.
      cli([
        'restore',
        '--json',
        '--restore-point',
        demoRequest.restorePointId,
        '--account',
        demoRequest.target.accountId,
        '--region',
        demoRequest.target.region,
        '--role-arn',
        demoRequest.target.roleArn,
        '--external-id',
        demoRequest.target.externalId,
        '--kms-key',
        demoRequest.target.kmsKeyId,
        '--subnet',
        demoRequest.instance.subnetId,
        '--security-group',
        demoRequest.instance.securityGroupIds[0]!,
        '--name',
        'cli-json',
        '--tag',
        'team=platform',
      ]),
      cli(['restore', '--file', demoRequestFile, '--restore-point', 'rp-damaged']),
    ]);

    // The terminal: redrawn in place (cursor up), a bar per volume with bytes, then the result.
    expect(terminal.code, terminal.stdout).toBe(0);
    expect(terminal.stdout).toMatch(new RegExp(`${String.fromCharCode(27)}\\[\\d+F`));
    const screen = plain(terminal.stdout);
    for (const device of ['/dev/xvda', '/dev/xvdb']) {
      expect(screen).toMatch(new RegExp(`${device} [█░]+ +100% 1\\.00 GiB/1\\.00 GiB`));
      expect(screen).toMatch(new RegExp(`${device} [█░]+ +\\d+% [\\d.]+ (B|KiB|MiB)/1\\.00 GiB`));
    }
    expect(screen).toMatch(/✓ restore [0-9a-f-]+ succeeded in/);
    expect(screen).toMatch(/instance {2}i-[0-9a-f]+ {2}in account 222222222222, eu-west-1/);
    expect(screen.match(/volume {4}\/dev\/xvd[ab] {2}vol-/g)).toHaveLength(2);

    // --json: one JSON document, the finished restore.
    expect(json.code, json.stderr).toBe(0);
    const restored = JSON.parse(json.stdout) as {
      status: string;
      request: { instance: { name: string; tags: Record<string, string> } };
      result: { instanceId: string; volumes: unknown[] };
    };
    expect(restored.status).toBe('succeeded');
    expect(restored.request.instance).toMatchObject({ name: 'cli-json', tags: { team: 'platform' } });
    expect(restored.result.instanceId).toMatch(/^i-/);
    expect(restored.result.volumes).toHaveLength(2);

    // The damaged restore point: failed, exit 1, with the reason.
    expect(damaged.code, damaged.stdout + damaged.stderr).toBe(1);
    expect(damaged.stdout).toMatch(/✗ restore [0-9a-f-]+ failed after/);
    expect(damaged.stdout).toContain('is missing from the repository');
    // Not a terminal: plain lines, no control sequences.
    expect(damaged.stdout).not.toContain('\x1b[');
    expect(damaged.stdout).toMatch(/step snapshot:\/dev\/xvd[ab]: running/);
  }, 600_000);

  it('refuses a request whose pre-flight checks fail, with the remedies (exit 3)', async () => {
    const missingKey = 'arn:aws:kms:eu-west-1:222222222222:key/00000000-0000-4000-8000-000000000000';
    const refused = await cli(['restore', '--file', demoRequestFile, '--kms-key', missingKey]);
    expect(refused.code, refused.stdout + refused.stderr).toBe(3);
    expect(refused.stdout).toContain('nothing was created');
    expect(refused.stdout).toMatch(/✗ target-key\.exists: /);
    expect(refused.stdout).toMatch(/fix: /);

    const json = await cli(['restore', '--file', demoRequestFile, '--kms-key', missingKey, '--json']);
    expect(json.code).toBe(3);
    const body = JSON.parse(json.stdout) as { error: { code: string; details: { failed: string[] } } };
    expect(body.error.code).toBe('preflight_failed');
    expect(body.error.details.failed).toContain('target-key.exists');

    const plan = await cli(['plan', '--file', demoRequestFile, '--kms-key', missingKey, '--json']);
    expect(plan.code).toBe(3);
    expect((JSON.parse(plan.stdout) as { ok: boolean }).ok).toBe(false);
  });

  it('exits 2 on a bad command line or a request the API finds invalid, naming the field', async () => {
    const unknown = await cli(['restore', '--file', demoRequestFile, '--colour']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("Unknown option '--colour'");

    const noId = await cli(['watch']);
    expect(noId.code).toBe(2);
    expect(noId.stderr).toContain('watch needs a restore id');

    const invalid = await cli(['plan', '--file', demoRequestFile, '--region', 'mars-1', '--json']);
    expect(invalid.code).toBe(2);
    expect(invalid.stderr).toContain('target.region: "mars-1" is not an AWS region');
    expect((JSON.parse(invalid.stdout) as { error: { code: string } }).error.code).toBe('invalid_request');

    const noEndpoint = await cli(['list'], {
      env: { EC2_RESTORE_ENDPOINT: undefined, EC2_RESTORE_DATA_DIR: join(dataDir, 'nowhere') },
    });
    expect(noEndpoint.code).toBe(2);
    expect(noEndpoint.stderr).toContain('no API endpoint: pass --endpoint URL or set EC2_RESTORE_ENDPOINT');
  });

  it('cancels a restore: cancel --wait follows it to cancelled (exit 4), list and show agree', async () => {
    const detached = await cli(['restore', '--file', demoRequestFile, '--detach', '--json']);
    expect(detached.code, detached.stderr).toBe(0);
    const { id } = JSON.parse(detached.stdout) as { id: string };

    const cancelled = await cli(['cancel', id, '--wait']);
    expect(cancelled.code, cancelled.stdout + cancelled.stderr).toBe(4);
    expect(cancelled.stdout).toMatch(new RegExp(`⊘ restore ${id} cancelled after`));

    const watched = await cli(['watch', id, '--json']);
    expect(watched.code).toBe(4);
    expect((JSON.parse(watched.stdout) as { status: string }).status).toBe('cancelled');

    const listed = await cli(['list', '--status', 'cancelled', '--json']);
    expect(listed.code).toBe(0);
    expect((JSON.parse(listed.stdout) as { restores: { id: string }[] }).restores.map((r) => r.id)).toContain(
      id,
    );

    const shown = await cli(['show', id]);
    expect(shown.code).toBe(0);
    expect(shown.stdout).toContain(`restore ${id}  cancelled`);

    const again = await cli(['cancel', id]);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('restore_not_cancellable');
  });
});
