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
  /** Restores the API's relaunch pass moved on, from its log lines, across restarts. */
  relaunchPass(): RelaunchPassSeen;
  /** The last lines it printed. */
  tail(): string;
  stop(): Promise<void>;
}

export interface RelaunchPassSeen {
  relaunched: Set<string>;
  refused: Set<string>;
  cancelled: Set<string>;
}

/** The relaunch pass's log message (`services/api/src/main.ts`), with the restore ids by what it did. */
const RELAUNCH_PASS_MESSAGE = 'restores no worker moves on';

export async function startApiProcess(port: number, env: Record<string, string>): Promise<ApiProcess> {
  const baseUrl = `http://127.0.0.1:${port}`;
  const lines: string[] = [];
  let kills = 0;
  const pass: RelaunchPassSeen = { relaunched: new Set(), refused: new Set(), cancelled: new Set() };
  const notePass = (line: string) => {
    if (!line.includes(RELAUNCH_PASS_MESSAGE)) return;
    let fields: Partial<Record<keyof RelaunchPassSeen, string[]>>;
    try {
      fields = JSON.parse(line);
    } catch {
      return;
    }
    for (const kind of ['relaunched', 'refused', 'cancelled'] as const)
      for (const id of fields[kind] ?? []) pass[kind].add(id);
  };
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
    // A chunk may end inside a line: that part waits for the next chunk of the same stream.
    const keeper = () => {
      let partial = '';
      return (chunk: Buffer) => {
        const fresh = (partial + chunk.toString('utf8')).split('\n');
        partial = fresh.pop() ?? '';
        for (const line of fresh.filter(Boolean)) notePass(line);
        lines.push(...fresh.filter(Boolean));
        lines.splice(0, Math.max(0, lines.length - 50));
      };
    };
    child.stdout?.on('data', keeper());
    child.stderr?.on('data', keeper());
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
    relaunchPass: () => pass,
    tail: () => lines.join('\n'),
    stop: () => stopChild(child),
  };
}
