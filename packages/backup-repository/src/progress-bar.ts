import type { WriteStream } from 'node:tty';

const MIB = 1024 * 1024;

function formatBytes(bytes: number): string {
  if (bytes >= 1024 * MIB) return `${(bytes / (1024 * MIB)).toFixed(2)} GiB`;
  return `${(bytes / MIB).toFixed(1)} MiB`;
}

/** A one-line progress bar redrawn in place, for terminals only (callers check isTTY). */
export class ProgressBar {
  private readonly started = Date.now();
  private lastDraw = 0;

  constructor(
    private readonly out: WriteStream,
    private readonly label: string,
  ) {}

  update(done: number, total: number, force = false): void {
    const now = Date.now();
    if (!force && now - this.lastDraw < 100) return;
    this.lastDraw = now;
    const width = 24;
    const ratio = total > 0 ? Math.min(1, done / total) : 1;
    const filled = Math.round(ratio * width);
    const seconds = Math.max(0.001, (now - this.started) / 1000);
    const rate = done / MIB / seconds;
    const line =
      `${this.label} [${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${(ratio * 100).toFixed(0).padStart(3)}% ` +
      `${formatBytes(done)}/${formatBytes(total)} ${rate.toFixed(0)} MiB/s`;
    this.out.write(`\r${line.slice(0, (this.out.columns ?? 120) - 1)}`);
  }

  finish(): void {
    this.out.write('\n');
  }
}
