/**
 * The embedded default as a newcomer starts it (`bash scripts/start.sh` runs `scripts/start.ts`): no
 * REDIS_URL, no AWS endpoint, no credentials; its own Redis, emulator and services, in a data folder
 * of the test's own.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export const REPO_ROOT = resolve(import.meta.dirname, '..', '..');

export interface Embedded {
  /** Its data folder (EC2_RESTORE_DATA_DIR). */
  dataDir: string;
  process: ChildProcess;
  /** Everything it printed so far. */
  output(): string;
  /** Waits until its output matches `pattern` (throws if it exits first or the time is up). */
  waitForOutput(pattern: RegExp, timeoutMs: number): Promise<RegExpExecArray>;
  /** Ctrl-C (SIGKILL after 20 s), then removes the data folder. */
  stop(): Promise<void>;
}

export function startEmbedded(): Embedded {
  const dataDir = mkdtempSync(join(tmpdir(), 'ec2-restore-embedded-'));
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
  const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/start.ts'], { cwd: REPO_ROOT, env });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  return {
    dataDir,
    process: child,
    output: () => output,
    async waitForOutput(pattern, timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      while (Date.now() < deadline) {
        const match = pattern.exec(output);
        if (match) return match;
        if (child.exitCode !== null) throw new Error(`the start command exited early:\n${output}`);
        await new Promise((r) => setTimeout(r, 250));
      }
      throw new Error(`timed out waiting for ${pattern}:\n${output}`);
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((done) => child.once('exit', done));
        child.kill('SIGINT');
        await Promise.race([exited, new Promise((r) => setTimeout(r, 20_000))]);
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      }
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
