import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

/** The CLI installs on its own: packed, installed by npm with no registry, run by plain node. */

const root = resolve(import.meta.dirname, '..', '..');
const folder = mkdtempSync(join(tmpdir(), 'ec2-restore-cli-pack-'));

afterAll(() => {
  rmSync(folder, { recursive: true, force: true });
});

describe('the ec2-restore CLI package', () => {
  it('packs into a tarball that npm installs offline and node runs without TypeScript', () => {
    execFileSync('pnpm', ['--filter', '@ec2-restore/cli', 'pack', '--pack-destination', folder], {
      cwd: root,
      stdio: 'pipe',
    });
    const tarball = readdirSync(folder).find((name) => name.endsWith('.tgz'));
    expect(tarball).toMatch(/^ec2-restore-cli-\d+\.\d+\.\d+\.tgz$/);
    const listing = execFileSync('tar', ['tzf', join(folder, tarball!)], { encoding: 'utf8' });
    expect(listing).toContain('package/dist/ec2-restore.js');
    expect(listing).not.toContain('.ts\n');

    // No dependencies: npm needs no registry to install it.
    const prefix = join(folder, 'install');
    execFileSync(
      'npm',
      ['install', '--offline', '--no-audit', '--no-fund', '--prefix', prefix, join(folder, tarball!)],
      {
        stdio: 'pipe',
      },
    );
    const bin = join(prefix, 'node_modules', '.bin', 'ec2-restore');
    expect(execFileSync(bin, ['--version'], { encoding: 'utf8' }).trim()).toMatch(/^\d+\.\d+\.\d+$/);
    expect(execFileSync(bin, ['--help'], { encoding: 'utf8' })).toContain('Usage: ec2-restore COMMAND');

    // A usage error exits 2 from the installed copy too.
    let code: number | undefined;
    try {
      execFileSync(bin, ['watch'], {
        stdio: 'pipe',
        env: { ...process.env, EC2_RESTORE_ENDPOINT: 'http://127.0.0.1:9', EC2_RESTORE_TOKEN: 't' },
      });
    } catch (error) {
      code = (error as { status: number }).status;
    }
    expect(code).toBe(2);
  }, 120_000);
});
