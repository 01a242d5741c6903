import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { stopProcess } from '@ec2-restore/local-aws';
import { nodeArgsFor } from './compiled.ts';

/**
 * Worker chaos for the fault test: runs N worker processes
 * (services/<service>/src/main.ts, compiled: compiled.ts), SIGKILLs a random one every few seconds and
 * starts it again, for a bounded time, then stops every process it started. SIGKILL, not SIGTERM: the
 * worker gets no chance to finish or hand back its job, exactly as when a machine dies; BullMQ's
 * stalled-job detection must give the job to another worker.
 */

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

export interface ChaosWorkerGroup {
  /** The service folder, e.g. `snapshot-worker`. */
  service: string;
  /** How many processes of it run at once. */
  count: number;
  /**
   * The file node runs, relative to the repo root. @defaultValue `services/<service>/src/main.ts`
   */
  entry?: string;
  /** Environment of this group's processes, on top of ChaosOptions.env. */
  env?: Record<string, string>;
}

export interface ChaosOptions {
  groups: readonly ChaosWorkerGroup[];
  /** Environment of every process, on top of this process's environment (REDIS_URL, AWS_ENDPOINT_URL...). */
  env?: Record<string, string>;
  /** How long kills go on; the processes keep running afterwards until stop(). */
  killForMs: number;
  /** Pause between two kills, drawn uniformly from [min, max]. @defaultValue [2000, 5000] */
  killEveryMs?: readonly [number, number];
  /** Pause between a kill and the restart. @defaultValue 250 */
  restartAfterMs?: number;
  /** Source of randomness, for a repeatable sequence of kills. @defaultValue Math.random */
  random?: () => number;
  /** Receives every line a process prints, prefixed with `service#index`. @defaultValue discard */
  log?: (line: string) => void;
  /**
   * Picks the next process to kill among those alive (e.g. the one running a job killed before);
   * undefined falls back to a random one. @defaultValue a random one
   */
  chooseVictim?: (alive: ChaosProcess[]) => ChaosProcess | undefined;
}

export interface ChaosProcess {
  service: string;
  /** Position in its group, stable across restarts. */
  index: number;
  pid: number;
  /** How many times this slot was started again after a kill or a crash. */
  restarts: number;
}

export interface ChaosKill {
  at: number;
  service: string;
  index: number;
  pid: number;
}

export interface ChaosExit {
  at: number;
  service: string;
  index: number;
  pid: number;
  code: number | null;
  signal: NodeJS.Signals | null;
  /** The last lines it printed, to see why. */
  tail: string;
}

export interface ChaosRun {
  /** The processes running now. */
  processes(): ChaosProcess[];
  /** Every SIGKILL sent so far. */
  kills(): ChaosKill[];
  /** Processes that exited without being killed by the chaos (crashes): each is restarted too. */
  unexpectedExits(): ChaosExit[];
  /** Resolves when the kill period is over. */
  killingDone: Promise<void>;
  /** Ends the kill period now. */
  stopKilling(): void;
  /** Ends kills and restarts, SIGTERMs every process (SIGKILL after `graceMs`) and waits for all to exit. */
  stop(graceMs?: number): Promise<void>;
}

interface Slot {
  group: ChaosWorkerGroup;
  index: number;
  child: ChildProcess;
  restarts: number;
  killedByChaos: boolean;
  tail: string[];
}

let setprivAvailable: boolean | undefined;

/** Starts the processes, then the kills. Throws at once when an entry file does not exist. */
export function startChaos(options: ChaosOptions): ChaosRun {
  const [minPause, maxPause] = options.killEveryMs ?? [2_000, 5_000];
  if (!(minPause >= 0 && maxPause >= minPause)) {
    throw new Error(`killEveryMs must be [min, max] with 0 <= min <= max, got [${minPause}, ${maxPause}]`);
  }
  const restartAfterMs = options.restartAfterMs ?? 250;
  const random = options.random ?? Math.random;
  for (const group of options.groups) {
    const entry = entryOf(group);
    if (!existsSync(new URL(entry, `file://${REPO_ROOT}`))) {
      throw new Error(`${group.service}: ${entry} does not exist (set entry, or write the service's main)`);
    }
    if (!(Number.isInteger(group.count) && group.count >= 1)) {
      throw new Error(`${group.service}: count must be a whole number >= 1, got ${group.count}`);
    }
  }

  const slots: Slot[] = [];
  const kills: ChaosKill[] = [];
  const unexpected: ChaosExit[] = [];
  let stopping = false;
  let killing = true;
  let killTimer: NodeJS.Timeout | undefined;
  let endTimer: NodeJS.Timeout | undefined;
  const restartTimers = new Set<NodeJS.Timeout>();
  let finishKilling!: () => void;
  const killingDone = new Promise<void>((resolve) => {
    finishKilling = resolve;
  });

  function launch(slot: Omit<Slot, 'child' | 'killedByChaos' | 'tail'>): Slot {
    const entry = entryOf(slot.group);
    const env = { ...process.env, ...options.env, ...slot.group.env };
    setprivAvailable ??=
      process.platform === 'linux' && spawnSync('setpriv', ['--help'], { stdio: 'ignore' }).status === 0;
    const nodeArgs = nodeArgsFor(entry);
    // Tied to this process (Linux): if the test run itself is killed, its workers die with it.
    const [file, args] = setprivAvailable
      ? ['setpriv', ['--pdeathsig', 'KILL', process.execPath, ...nodeArgs]]
      : [process.execPath, nodeArgs];
    const child = spawn(file, args, { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    const running: Slot = { ...slot, child, killedByChaos: false, tail: [] };
    const prefix = `${slot.group.service}#${slot.index}`;
    const onData = (chunk: Buffer) => {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (!line) continue;
        running.tail.push(line);
        if (running.tail.length > 20) running.tail.shift();
        options.log?.(`${prefix} ${line}`);
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', (code, signal) => {
      if (stopping) return;
      if (!running.killedByChaos) {
        unexpected.push({
          at: Date.now(),
          service: slot.group.service,
          index: slot.index,
          pid: child.pid ?? -1,
          code,
          signal,
          tail: running.tail.join('\n'),
        });
      }
      const timer = setTimeout(() => {
        restartTimers.delete(timer);
        if (stopping) return;
        const position = slots.indexOf(running);
        if (position >= 0) slots[position] = launch({ ...slot, restarts: slot.restarts + 1 });
      }, restartAfterMs);
      restartTimers.add(timer);
    });
    return running;
  }

  for (const group of options.groups) {
    for (let index = 0; index < group.count; index++) slots.push(launch({ group, index, restarts: 0 }));
  }

  function scheduleKill(): void {
    if (!killing) return;
    const pause = minPause + random() * (maxPause - minPause);
    killTimer = setTimeout(() => {
      const alive = slots.filter((s) => s.child.exitCode === null && s.child.signalCode === null);
      const chosen = options.chooseVictim?.(alive.map(describe));
      const victim =
        alive.find((s) => s.group.service === chosen?.service && s.index === chosen.index) ??
        alive[Math.floor(random() * alive.length)];
      if (victim?.child.pid !== undefined) {
        victim.killedByChaos = true;
        kills.push({
          at: Date.now(),
          service: victim.group.service,
          index: victim.index,
          pid: victim.child.pid,
        });
        victim.child.kill('SIGKILL');
      }
      scheduleKill();
    }, pause);
  }

  function stopKilling(): void {
    if (!killing) return;
    killing = false;
    clearTimeout(killTimer);
    clearTimeout(endTimer);
    finishKilling();
  }

  endTimer = setTimeout(stopKilling, options.killForMs);
  scheduleKill();

  return {
    processes: () =>
      slots.filter((s) => s.child.exitCode === null && s.child.signalCode === null).map(describe),
    kills: () => [...kills],
    unexpectedExits: () => [...unexpected],
    killingDone,
    stopKilling,
    async stop(graceMs = 5_000) {
      stopKilling();
      stopping = true;
      for (const timer of restartTimers) clearTimeout(timer);
      restartTimers.clear();
      await Promise.all(slots.map((slot) => stopProcess(slot.child, graceMs)));
    },
  };
}

function describe(slot: Slot): ChaosProcess {
  return {
    service: slot.group.service,
    index: slot.index,
    pid: slot.child.pid ?? -1,
    restarts: slot.restarts,
  };
}

function entryOf(group: ChaosWorkerGroup): string {
  return group.entry ?? `services/${group.service}/src/main.ts`;
}
