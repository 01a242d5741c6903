/** Time intervals (epoch milliseconds) and the split of a restore's wall time built from them. */

export interface Interval {
  start: number;
  end: number;
}

/** The intervals merged: sorted, none overlapping. */
export function union(intervals: readonly Interval[]): Interval[] {
  const sorted = intervals.filter((i) => i.end > i.start).sort((a, b) => a.start - b.start);
  const merged: Interval[] = [];
  for (const i of sorted) {
    const last = merged[merged.length - 1];
    if (last && i.start <= last.end) last.end = Math.max(last.end, i.end);
    else merged.push({ ...i });
  }
  return merged;
}

/** The parts of `from` that no interval of `minus` covers. */
export function subtract(from: readonly Interval[], minus: readonly Interval[]): Interval[] {
  const cut = union(minus);
  const out: Interval[] = [];
  for (const i of union(from)) {
    let start = i.start;
    for (const c of cut) {
      if (c.end <= start || c.start >= i.end) continue;
      if (c.start > start) out.push({ start, end: c.start });
      start = Math.max(start, c.end);
    }
    if (start < i.end) out.push({ start, end: i.end });
  }
  return out;
}

export function length(intervals: readonly Interval[]): number {
  return union(intervals).reduce((sum, i) => sum + (i.end - i.start), 0);
}

export interface WallTimeSplit {
  wallMs: number;
  /** At least one PutSnapshotBlock in flight. */
  dataMs: number;
  /** Another AWS call in flight, no block being written. */
  awsMs: number;
  /** A step running (a job in a worker, or in the delayed set) with no AWS call in flight. */
  waitingMs: number;
  /** No step running and no AWS call: the API accepting, and jobs passing between queues. */
  queueMs: number;
}

/**
 * Splits the wall time of `window` into disjoint parts, each instant counted once, in this order of
 * precedence: writing data, other AWS calls, waiting inside a step, between steps.
 */
export function splitWallTime(
  window: Interval,
  data: readonly Interval[],
  aws: readonly Interval[],
  steps: readonly Interval[],
): WallTimeSplit {
  const clip = (list: readonly Interval[]) =>
    union(list.map((i) => ({ start: Math.max(i.start, window.start), end: Math.min(i.end, window.end) })));
  const dataIn = clip(data);
  const awsOnly = subtract(clip(aws), dataIn);
  const busy = [...dataIn, ...awsOnly];
  const waiting = subtract(clip(steps), busy);
  const queue = subtract([window], [...busy, ...waiting]);
  return {
    wallMs: window.end - window.start,
    dataMs: length(dataIn),
    awsMs: length(awsOnly),
    waitingMs: length(waiting),
    queueMs: length(queue),
  };
}

/** The value below which `p` (0..1) of the sorted values fall (nearest rank). */
export function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))] ?? Number.NaN;
}
