/**
 * The API service as its own process (`services/api/src/main.ts`) on a fixed port, which the chaos run
 * SIGKILLs and starts again: clients see refused connections and cut streams meanwhile.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { stopChild } from './durable-redis.ts';

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const READY_WITHIN_MS = 300_000;

export interface ApiProcess {
  baseUrl: string;
  /** SIGKILL (no graceful stop), then start again once `downMs` passed; resolves when it answers. */
  killAndRestart(downMs: number): Promise<void>;
  kills(): number;
  /** The last lines it printed. */
  tail(): string;
  stop(): Promise<void>;
}

export async function startApiProcess(port: number, env: Record<string, string>): Promise<ApiProcess> {
  const baseUrl = `http://127.0.0.1:${port}`;
  const lines: string[] = [];
  let kills = 0;
  const launch = async (): Promise<ChildProcess> => {
    const child = spawn(
      'setpriv',
      ['--pdeathsig', 'KILL', process.execPath, '--import', 'tsx', 'services/api/src/main.ts'],
      {
        cwd: REPO_ROOT,
        env: { ...process.env, ...env, PORT: String(port) },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    const keep = (chunk: Buffer) => {
      lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
      lines.splice(0, Math.max(0, lines.length - 50));
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    // Generous: on a loaded machine node + tsx take long to load the API's modules.
    const deadline = Date.now() + READY_WITHIN_MS;
    for (;;) {
      if (child.exitCode !== null)
        throw new Error(`the API exited (${child.exitCode}):\n${lines.join('\n')}`);
      const ok = await fetch(`${baseUrl}/healthz`).then(
        (r) => r.ok,
        () => false,
      );
      if (ok) return child;
      if (Date.now() > deadline)
        throw new Error(`the API did not answer in ${READY_WITHIN_MS / 1000} s:\n${lines.join('\n')}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  };
  let child = await launch();
  return {
    baseUrl,
    async killAndRestart(downMs) {
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGKILL');
      kills++;
      await exited;
      await new Promise((r) => setTimeout(r, downMs));
      child = await launch();
    },
    kills: () => kills,
    tail: () => lines.join('\n'),
    stop: () => stopChild(child),
  };
}
