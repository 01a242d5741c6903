/** Bytes as a person reads them: `0 B`, `512 KiB`, `7.5 MiB`, `1.25 GiB`. */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  if (unit === 0) return `${value} B`;
  const digits = value >= 100 ? 0 : value >= 10 ? 1 : 2;
  return `${value.toFixed(digits)} ${units[unit]}`;
}

/** A duration in seconds as `4s`, `2m05s`, `1h02m`. */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

/**
 * The rate of a growing byte count over a sliding window of recent samples, and the time left at
 * that rate. Sample times are when the bytes were written (the event's own time), not when seen.
 */
export class RateEstimator {
  private readonly samples: { at: number; bytes: number }[] = [];

  constructor(private readonly windowMs = 10_000) {}

  add(atMs: number, bytes: number): void {
    this.samples.push({ at: atMs, bytes });
    while (this.samples.length > 2 && this.samples[0]!.at < atMs - this.windowMs) this.samples.shift();
  }

  /** Bytes per second, or undefined before two samples some time apart. */
  bytesPerSecond(): number | undefined {
    const first = this.samples[0];
    const last = this.samples.at(-1);
    if (!first || !last || last.at - first.at < 200 || last.bytes <= first.bytes) return undefined;
    return ((last.bytes - first.bytes) * 1000) / (last.at - first.at);
  }

  /** Seconds until `total` at the current rate, or undefined when there is no rate yet. */
  secondsLeft(total: number): number | undefined {
    const rate = this.bytesPerSecond();
    const last = this.samples.at(-1);
    if (rate === undefined || !last) return undefined;
    return Math.max(0, (total - last.bytes) / rate);
  }
}
