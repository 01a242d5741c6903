import type { Restore, RestoreStatus, StepStatus, VolumePhase } from '@ec2-restore/contracts';
import type { RestoreEvent } from './events.ts';
import { type Output, styles, truncate, visibleLength } from './output.ts';
import { formatBytes, formatDuration, RateEstimator } from './units.ts';

interface VolumeState {
  deviceName: string;
  bytesDone: number;
  bytesTotal: number;
  /** `verify` once a verified restore reads the written data back. */
  phase: VolumePhase;
  bytesVerified: number;
  /** Rate of writing, then of reading back. */
  rate: RateEstimator;
}

/** The bytes of the volume's current phase: written, or read back and compared. */
function phaseBytes(volume: VolumeState): number {
  return volume.phase === 'verify' ? volume.bytesVerified : volume.bytesDone;
}

/** What a view shows while a restore runs: built from the restore, then from its events. */
export class RestoreProgress {
  status: RestoreStatus;
  readonly steps = new Map<string, { status: StepStatus; attempts: number }>();
  readonly volumes = new Map<string, VolumeState>();
  private readonly total = new RateEstimator();

  constructor(
    readonly restore: Restore,
    private readonly now: () => number = Date.now,
  ) {
    this.status = restore.status;
    for (const step of restore.steps)
      this.steps.set(step.name, { status: step.status, attempts: step.attempts });
    for (const volume of restore.progress.volumes) {
      this.volumes.set(volume.deviceName, { ...volume, rate: new RateEstimator() });
    }
  }

  apply(event: RestoreEvent): void {
    switch (event.type) {
      case 'status':
        this.status = event.data.status;
        break;
      case 'step':
        this.steps.set(event.data.name, { status: event.data.status, attempts: event.data.attempts });
        break;
      case 'progress': {
        const { deviceName, bytesDone, bytesTotal } = event.data;
        let volume = this.volumes.get(deviceName);
        if (!volume) {
          volume = {
            deviceName,
            bytesDone: 0,
            bytesTotal,
            phase: 'write',
            bytesVerified: 0,
            rate: new RateEstimator(),
          };
          this.volumes.set(deviceName, volume);
        }
        volume.bytesDone = bytesDone;
        volume.bytesTotal = bytesTotal;
        if (event.data.phase === 'verify') {
          // The read-back starts over from zero: its rate is its own, not the write's.
          if (volume.phase !== 'verify') volume.rate = new RateEstimator();
          volume.phase = 'verify';
          volume.bytesVerified = event.data.bytesVerified ?? 0;
        }
        // The event id is the Redis stream id, `<milliseconds>-<sequence>`, stamped when the worker
        // reported the progress: rates stay right for a replayed history and over a slow network.
        const at = eventTime(event.id) ?? this.now();
        volume.rate.add(at, phaseBytes(volume));
        if (volume.phase === 'write') this.total.add(at, this.bytesDone());
        break;
      }
      case 'end':
        this.status = event.data.status;
        break;
    }
  }

  bytesDone(): number {
    let done = 0;
    for (const volume of this.volumes.values()) done += volume.bytesDone;
    return done;
  }

  bytesTotal(): number {
    let total = 0;
    for (const volume of this.volumes.values()) total += volume.bytesTotal;
    return total;
  }

  /** Seconds until every volume is written, at the recent overall rate. */
  secondsLeft(): number | undefined {
    return this.total.secondsLeft(this.bytesTotal());
  }
}

/** The time an event was recorded, from its id (`1764680000000-0`), when the id has that form. */
export function eventTime(id: string): number | undefined {
  const match = /^(\d{10,})-\d+$/.exec(id);
  return match ? Number(match[1]) : undefined;
}

/**
 * The lines of the live view: the restore and its status, the total with its ETA, one bar per volume
 * with bytes, rate and ETA, and the steps, wrapped to fit `columns`.
 */
export function renderProgress(progress: RestoreProgress, color: boolean, columns = 80): string[] {
  const s = styles(color);
  const { restore } = progress;
  const statusText =
    progress.status === 'succeeded'
      ? s.green(progress.status)
      : progress.status === 'failed' || progress.status === 'cancelled'
        ? s.red(progress.status)
        : s.yellow(progress.status);
  const done = progress.bytesDone();
  const total = progress.bytesTotal();
  const eta = progress.secondsLeft();
  const lines = [
    `${s.bold(`restore ${restore.id}`)}  ${statusText}`,
    `  ${restore.mode}, ${restore.request.dataPath}: ${formatBytes(done)} of ${formatBytes(total)}` +
      (eta !== undefined && done < total ? `, ETA ${formatDuration(eta)}` : ''),
  ];
  const nameWidth = Math.max(0, ...[...progress.volumes.keys()].map((name) => name.length));
  const barWidth = Math.max(10, Math.min(30, columns - nameWidth - 56));
  for (const volume of progress.volumes.values()) {
    const verifying = volume.phase === 'verify';
    const bytes = phaseBytes(volume);
    const fraction = volume.bytesTotal > 0 ? Math.min(1, bytes / volume.bytesTotal) : 0;
    const filled = Math.round(fraction * barWidth);
    const bar = `${s.cyan('█'.repeat(filled))}${s.dim('░'.repeat(barWidth - filled))}`;
    const rate = volume.rate.bytesPerSecond();
    const left = volume.rate.secondsLeft(volume.bytesTotal);
    const phaseDone = volume.bytesTotal > 0 && bytes >= volume.bytesTotal;
    // A verified restore's volume is done once read back; written, it waits for the read-back.
    const finished = phaseDone && (verifying || !restore.request.verify);
    lines.push(
      `  ${volume.deviceName.padEnd(nameWidth)} ${bar} ${`${Math.floor(fraction * 100)}%`.padStart(4)} ` +
        `${formatBytes(bytes)}/${formatBytes(volume.bytesTotal)}${verifying ? ' verified' : ''}` +
        (finished
          ? `  ${s.green('done')}`
          : phaseDone
            ? `  ${s.dim('written, to verify')}`
            : `${rate !== undefined ? `  ${formatBytes(rate)}/s` : ''}${left !== undefined ? `  ETA ${formatDuration(left)}` : ''}`),
    );
  }
  if (progress.steps.size > 0) {
    const marks: Record<StepStatus, string> = {
      pending: s.dim('·'),
      running: s.yellow('▸'),
      succeeded: s.green('✓'),
      failed: s.red('✗'),
      skipped: s.dim('-'),
      cancelled: s.red('⊘'),
    };
    const steps = [...progress.steps].map(
      ([name, step]) =>
        `${marks[step.status]} ${name}${step.attempts > 1 ? ` (attempt ${step.attempts})` : ''}`,
    );
    let line = '  steps:';
    for (const step of steps) {
      if (line.length > 9 && visibleLength(line) + 2 + visibleLength(step) > columns - 1) {
        lines.push(line);
        line = '        ';
      }
      line += `  ${step}`;
    }
    lines.push(line);
  }
  return lines;
}

/** Shows a running restore. */
export interface ProgressView {
  /** The restore as first read, before any event. */
  start(progress: RestoreProgress): void;
  update(progress: RestoreProgress, event: RestoreEvent): void;
  note(message: string): void;
  /** The restore ended (or we stopped following it): leave the last state on screen. */
  stop(progress: RestoreProgress): void;
}

/**
 * A terminal: the lines of renderProgress redrawn in place (cursor up, clear line), at most ten times
 * a second, cut to the terminal's width so no line wraps.
 */
export class TerminalProgressView implements ProgressView {
  private drawn = 0;
  private lastDraw = 0;
  private pending: ReturnType<typeof setTimeout> | undefined;

  constructor(
    private readonly output: Output,
    private readonly intervalMs = 100,
  ) {}

  start(progress: RestoreProgress): void {
    this.draw(progress);
  }

  update(progress: RestoreProgress, event: RestoreEvent): void {
    if (event.type !== 'progress') {
      this.draw(progress);
      return;
    }
    const wait = this.lastDraw + this.intervalMs - Date.now();
    if (wait <= 0) this.draw(progress);
    else this.pending ??= setTimeout(() => this.draw(progress), wait);
  }

  note(message: string): void {
    this.clear();
    this.output.write(`${message}\n`);
  }

  stop(progress: RestoreProgress): void {
    this.draw(progress);
    this.drawn = 0;
  }

  private clear(): void {
    if (this.drawn > 0) this.output.write(`\x1b[${this.drawn}F\x1b[J`);
    this.drawn = 0;
  }

  private draw(progress: RestoreProgress): void {
    clearTimeout(this.pending);
    this.pending = undefined;
    const lines = renderProgress(progress, this.output.color, this.output.columns).map((line) =>
      truncate(line, this.output.columns - 1),
    );
    const up = this.drawn > 0 ? `\x1b[${this.drawn}F` : '';
    this.output.write(`${up}${lines.map((line) => `\x1b[2K${line}\n`).join('')}\x1b[J`);
    this.drawn = lines.length;
    this.lastDraw = Date.now();
  }
}

/**
 * A pipe or a log file: one line per step or status change, and per volume every 25 %, so a CI log
 * shows the restore moving without a line per block.
 */
export class LineProgressView implements ProgressView {
  private readonly reported = new Map<string, number>();

  constructor(private readonly output: Output) {}

  start(progress: RestoreProgress): void {
    const { restore } = progress;
    this.output.write(
      `restore ${restore.id}: ${progress.status} (${restore.mode}, ${restore.request.dataPath}, ` +
        `${progress.volumes.size} volume(s), ${formatBytes(progress.bytesTotal())})\n`,
    );
  }

  update(progress: RestoreProgress, event: RestoreEvent): void {
    switch (event.type) {
      case 'status':
        this.output.write(`status: ${event.data.status}\n`);
        break;
      case 'step':
        this.output.write(
          `step ${event.data.name}: ${event.data.status}${event.data.attempts > 1 ? ` (attempt ${event.data.attempts})` : ''}\n`,
        );
        break;
      case 'progress': {
        const { deviceName, bytesTotal } = event.data;
        const verifying = event.data.phase === 'verify';
        const bytes = verifying ? (event.data.bytesVerified ?? 0) : event.data.bytesDone;
        const key = `${deviceName}${verifying ? ' verify' : ''}`;
        const quarter = bytesTotal > 0 ? Math.floor((4 * bytes) / bytesTotal) : 4;
        if (quarter > (this.reported.get(key) ?? 0)) {
          this.reported.set(key, quarter);
          const eta = progress.volumes.get(deviceName)?.rate.secondsLeft(bytesTotal);
          this.output.write(
            `${deviceName}: ${verifying ? 'verified ' : ''}${formatBytes(bytes)} / ${formatBytes(bytesTotal)} (${quarter * 25}%)` +
              `${eta !== undefined && bytes < bytesTotal ? `, ETA ${formatDuration(eta)}` : ''}\n`,
          );
        }
        break;
      }
      case 'end':
        break;
    }
  }

  note(message: string): void {
    this.output.write(`${message}\n`);
  }

  stop(): void {}
}

/** No live output (--json to a pipe). */
export class SilentProgressView implements ProgressView {
  start(): void {}
  update(): void {}
  note(): void {}
  stop(): void {}
}
