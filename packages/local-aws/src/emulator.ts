import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { delimiter } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Launcher of the local AWS emulator: moto 5.2.1's server plus the AWS behaviour ec2-restore relies
 * on (docs/architecture.md#what-the-emulator-adds-to-moto; the Python side is in ../emulator/ec2restore_emulator).
 */

export interface StartEmulatorOptions {
  /** Port on 127.0.0.1. @defaultValue a free port chosen by the OS (no race: the server binds port 0). */
  port?: number;
  /**
   * Plain moto 5.2.1 without ec2-restore's additions (only the emulator-account credentials of
   * credentialsForAccount still work). Used once to prove the contract tests test something.
   * @defaultValue `process.env.EC2_RESTORE_EMULATOR_VANILLA === '1'`
   */
  vanilla?: boolean;
  /** Receives every line the emulator writes on stdout and stderr. @defaultValue discard */
  log?: (line: string) => void;
  /** How long to wait for the server to answer (start-up is CPU-bound: slow on a loaded machine). @defaultValue 60000 */
  startTimeoutMs?: number;
  /**
   * The folder holding the `ec2restore_emulator` package, e.g. another checkout's, to compare two
   * versions side by side (bench/emulator). @defaultValue this package's `emulator/` folder
   */
  emulatorDir?: string;
}

export interface RunningEmulator {
  /** `http://127.0.0.1:<port>`: use as the SDK's `endpoint` / `AWS_ENDPOINT_URL`. */
  endpoint: string;
  pid: number;
  /**
   * The emulator's memory now and at its peak (VmRSS and VmHWM of /proc/<pid>/status), in bytes;
   * undefined where /proc is not available or the process is gone.
   */
  memory(): { rssBytes: number; peakRssBytes: number } | undefined;
  /** Ends the emulator (SIGTERM, then SIGKILL after 5 s). Safe to call more than once. */
  stop(): Promise<void>;
}

const EMULATOR_DIR = fileURLToPath(new URL('../emulator', import.meta.url));
const READY_LINE = /^EC2RESTORE_EMULATOR_READY port=(\d+)/;
const STDERR_TAIL_LINES = 40;
const KILL_AFTER_MS = 5_000;
const INSTALL_HINT = 'install python3 and `python3 -m pip install "moto[server]==5.2.1"`';

export async function startEmulator(opts: StartEmulatorOptions = {}): Promise<RunningEmulator> {
  const vanilla = opts.vanilla ?? process.env.EC2_RESTORE_EMULATOR_VANILLA === '1';
  const startTimeoutMs = opts.startTimeoutMs ?? 60_000;
  const python = process.env.EC2_RESTORE_PYTHON ?? 'python3';
  const args = ['-m', 'ec2restore_emulator', '--port', String(opts.port ?? 0)];
  if (vanilla) args.push('--vanilla');
  const emulatorDir = opts.emulatorDir ?? EMULATOR_DIR;

  const child = spawn(python, args, {
    cwd: emulatorDir,
    env: {
      ...process.env,
      PYTHONPATH: [emulatorDir, process.env.PYTHONPATH].filter(Boolean).join(delimiter),
      PYTHONUNBUFFERED: '1',
      PYTHONDONTWRITEBYTECODE: '1',
    },
    // stdin stays open: the emulator exits when it reaches EOF, i.e. when this process is gone.
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const stderrTail: string[] = [];
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const failure = (reason: string) =>
    new Error(
      `local AWS emulator (${python} ${args.join(' ')}) ${reason}` +
        (stderrTail.length ? `\n--- stderr (last lines) ---\n${stderrTail.join('\n')}` : ''),
    );

  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(failure(`did not report its port within ${startTimeoutMs} ms`)),
      startTimeoutMs,
    );
    const settle = (fn: () => void) => {
      clearTimeout(timer);
      fn();
    };
    child.once('error', (err: NodeJS.ErrnoException) =>
      settle(() =>
        reject(
          err.code === 'ENOENT'
            ? new Error(`${python} not found: ${INSTALL_HINT} (or set EC2_RESTORE_PYTHON)`)
            : failure(`could not start: ${err.message}`),
        ),
      ),
    );
    child.once('exit', (code, signal) =>
      settle(() => reject(failure(`exited before it was ready (code ${code}, signal ${signal})`))),
    );
    forEachLine(child.stderr!, (line) => {
      stderrTail.push(line);
      if (stderrTail.length > STDERR_TAIL_LINES) stderrTail.shift();
      opts.log?.(line);
    });
    forEachLine(child.stdout!, (line) => {
      opts.log?.(line);
      const ready = READY_LINE.exec(line);
      if (ready) settle(() => resolve(Number(ready[1])));
    });
  }).catch(async (err: unknown) => {
    await stopChild(child, exited);
    throw err;
  });

  const endpoint = `http://127.0.0.1:${port}`;
  try {
    await waitUntilAnswering(endpoint, startTimeoutMs);
  } catch (err) {
    await stopChild(child, exited);
    throw failure((err as Error).message);
  }
  // The emulator must never keep this process alive; it exits by itself once our stdin pipe closes.
  child.unref();
  for (const stream of [child.stdin, child.stdout, child.stderr]) {
    (stream as unknown as { unref?: () => void } | null)?.unref?.();
  }

  let stopping: Promise<void> | undefined;
  return {
    endpoint,
    pid: child.pid!,
    memory: () => processMemory(child.pid!),
    stop: () => {
      stopping ??= stopChild(child, exited);
      return stopping;
    },
  };
}

/** VmRSS and VmHWM (peak) of a Linux process, in bytes. */
export function processMemory(pid: number): { rssBytes: number; peakRssBytes: number } | undefined {
  let status: string;
  try {
    status = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return undefined;
  }
  const kib = (field: string) =>
    Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? Number.NaN);
  const rss = kib('VmRSS');
  const peak = kib('VmHWM');
  return Number.isNaN(rss) || Number.isNaN(peak)
    ? undefined
    : { rssBytes: rss * 1024, peakRssBytes: peak * 1024 };
}

/**
 * Test harness only (no AWS operation): the emulator drops everything it holds for these accounts
 * (moto's backends of every service, EBS direct blocks), so its memory does not grow with the number of
 * test files that each use fresh accounts (ec2restore_emulator/test_only.py). An account used again
 * afterwards starts empty.
 */
export async function forgetTestAccounts(endpoint: string, accountIds: readonly string[]): Promise<void> {
  if (accountIds.length === 0) return;
  const res = await fetch(`${endpoint}/ec2restore-test-only/forget-accounts`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ accountIds }),
    signal: AbortSignal.timeout(30_000),
  });
  if (!res.ok) {
    throw new Error(
      `the emulator at ${endpoint} did not forget the test accounts (HTTP ${res.status}: ${await res.text()}); ` +
        'is AWS_ENDPOINT_URL the local AWS emulator of this checkout?',
    );
  }
}

async function waitUntilAnswering(endpoint: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError = '';
  while (Date.now() < deadline) {
    try {
      // moto's own dashboard API: answers 200 once the WSGI app is serving.
      const res = await fetch(`${endpoint}/moto-api/data.json`, { signal: AbortSignal.timeout(2_000) });
      if (res.ok) return;
      lastError = `HTTP ${res.status}`;
    } catch (err) {
      lastError = (err as Error).message;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`did not answer on ${endpoint} within ${timeoutMs} ms (last: ${lastError})`);
}

async function stopChild(child: ChildProcess, exited: Promise<void>): Promise<void> {
  // Never started (spawn error) or already gone.
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), KILL_AFTER_MS);
  await exited;
  clearTimeout(timer);
  child.stdin?.destroy();
}

function forEachLine(stream: NodeJS.ReadableStream, onLine: (line: string) => void): void {
  let buffered = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    buffered += chunk;
    let newline = buffered.indexOf('\n');
    while (newline >= 0) {
      onLine(buffered.slice(0, newline).replace(/\r$/, ''));
      buffered = buffered.slice(newline + 1);
      newline = buffered.indexOf('\n');
    }
  });
}
