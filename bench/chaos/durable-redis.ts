/**
 * A redis-server that keeps its data the way docker-compose.yml runs it (AOF, fsync every second,
 * noeviction) and can be restarted on the same port, for the chaos runs: every client must ride
 * through the outage and find what it wrote before.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findFreePort } from '@ec2-restore/local-aws';

export interface DurableRedis {
  url: string;
  /** Restarts done so far. */
  restarts(): number;
  /**
   * Stops the server (SIGTERM: Redis writes its AOF and exits, as `docker compose restart` does),
   * stays down for `downMs`, starts it again on the same port and data, and waits until it answers.
   */
  restart(downMs: number): Promise<void>;
  stop(): Promise<void>;
}

export async function startDurableRedis(): Promise<DurableRedis> {
  const dir = mkdtempSync(join(tmpdir(), 'ec2r-chaos-redis-'));
  const port = await findFreePort();
  let child = await launch(port, dir);
  let restarts = 0;
  return {
    url: `redis://127.0.0.1:${port}`,
    restarts: () => restarts,
    async restart(downMs) {
      await stopChild(child);
      await new Promise((r) => setTimeout(r, downMs));
      child = await launch(port, dir);
      restarts++;
    },
    async stop() {
      await stopChild(child);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function launch(port: number, dir: string): Promise<ChildProcess> {
  const args = [
    ...['--port', String(port), '--bind', '127.0.0.1', '--dir', dir],
    ...['--appendonly', 'yes', '--appendfsync', 'everysec', '--save', '', '--maxmemory-policy', 'noeviction'],
  ];
  // Tied to this process (Linux): a killed run leaves no redis-server behind.
  const child = spawn('setpriv', ['--pdeathsig', 'KILL', 'redis-server', ...args], { stdio: 'ignore' });
  const deadline = Date.now() + 120_000;
  while ((await ping(port)) !== '+PONG') {
    if (child.exitCode !== null) throw new Error(`redis-server on port ${port} exited (${child.exitCode})`);
    if (Date.now() > deadline) throw new Error(`redis-server on port ${port} did not answer PING in 120 s`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return child;
}

/** The first reply line to PING (`+PONG`, or `-LOADING ...` while the AOF is read), or '' when closed. */
function ping(port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    let reply = '';
    const done = (value: string) => {
      socket.destroy();
      resolve(value);
    };
    socket.setTimeout(2_000, () => done(''));
    socket.on('error', () => done(''));
    socket.on('connect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk) => {
      reply += chunk.toString('utf8');
      if (reply.includes('\r\n')) done(reply.split('\r\n')[0] ?? '');
    });
  });
}

/** SIGTERM, SIGKILL after 10 s; resolves when the process is gone. */
export async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}
