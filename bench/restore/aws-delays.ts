/**
 * The AWS delays the emulator modelled that a restore had to wait out (its test-only log,
 * `modelledDelaysSince`): a new id answering NotFound, a share not yet visible to the target account,
 * a snapshot `pending` after CompleteSnapshot. On AWS they take at least as long; no product change
 * removes them, so the overhead is split into them and the product's own part.
 */
import type { ModelledDelay } from '@ec2-restore/local-aws';
import { type Interval, length, subtract, union } from './timeline.ts';

const SAME_INSTANT_MS = 20;

export interface AwsDelayOnPath {
  /** Counted delay, by kind. */
  byKind: Map<ModelledDelay['kind'], number>;
  totalMs: number;
  /** Each counted delay and what it added (delays that overlap count once, under the longest). */
  counted: { delay: ModelledDelay; ms: number }[];
}

/**
 * The delays the restore met (`waited`: the emulator answered a request as if it still ran) inside
 * `window`, outside the data write. Delays that overlap (two volumes' seals) form one group that counts
 * the time any of them ran (their union), under its longest member: the restore could not have gone
 * on before the last of them ended anyway.
 */
export function awsDelayOnPath(
  delays: readonly ModelledDelay[],
  window: Interval,
  dataWrite: readonly Interval[],
): AwsDelayOnPath {
  const met = delays
    .filter((d) => d.waited && d.untilMs > window.start && d.fromMs < window.end)
    .map((delay) => {
      const clipped = {
        start: Math.max(delay.fromMs, window.start),
        end: Math.min(delay.untilMs, window.end),
      };
      return { delay, span: clipped, ms: length(subtract([clipped], dataWrite)) };
    })
    .sort((a, b) => a.span.start - b.span.start);
  const counted: AwsDelayOnPath['counted'] = [];
  let group: typeof met = [];
  let groupEnd = Number.NEGATIVE_INFINITY;
  const close = () => {
    const longest = group.reduce((best, d) => (d.ms > best.ms ? d : best));
    const ms = length(subtract(union(group.map((d) => d.span)), dataWrite));
    counted.push({ delay: longest.delay, ms });
    group = [];
  };
  for (const d of met) {
    // One that starts as the group's last ends follows it (the product's next call met it), within
    // the few milliseconds the emulator's and the bench's clocks disagree by.
    if (group.length > 0 && d.span.start >= groupEnd - SAME_INSTANT_MS) close();
    group.push(d);
    groupEnd = group.length === 1 ? d.span.end : Math.max(groupEnd, d.span.end);
  }
  if (group.length > 0) close();
  const byKind = new Map<ModelledDelay['kind'], number>();
  for (const { delay, ms } of counted) byKind.set(delay.kind, (byKind.get(delay.kind) ?? 0) + ms);
  return { byKind, totalMs: counted.reduce((sum, c) => sum + c.ms, 0), counted };
}
