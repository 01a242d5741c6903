import { setTimeout as sleep } from 'node:timers/promises';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { registerRuntimeMetrics } from './runtime-metrics.ts';

let stop: (() => void) | undefined;
afterEach(() => stop?.());

async function scrape(registry: Registry): Promise<{ p99: number; max: number; gcs: number }> {
  const text = await registry.metrics();
  const value = (pattern: RegExp) => Number(pattern.exec(text)?.[1] ?? Number.NaN);
  const gcs = [...text.matchAll(/^ec2restore_api_gc_total\{kind="\w+"\} (\S+)$/gm)].reduce(
    (sum, [, count]) => sum + Number(count),
    0,
  );
  return {
    p99: value(/^ec2restore_api_event_loop_delay_seconds\{stat="p99"\} (\S+)$/m),
    max: value(/^ec2restore_api_event_loop_delay_seconds\{stat="max"\} (\S+)$/m),
    gcs,
  };
}

describe('the API process runtime metrics', () => {
  it('shows a held event loop in the next scrape only, and counts garbage collections', async () => {
    const registry = new Registry();
    stop = registerRuntimeMetrics(registry);
    await scrape(registry);
    await sleep(50);
    // The loop held for 300 ms: every request arriving meanwhile would wait that long.
    const until = performance.now() + 300;
    while (performance.now() < until) {}
    // Short-lived garbage, enough for minor collections.
    let kept = 0;
    for (let i = 0; i < 200_000; i++) kept += { i, s: `x${i}` }.s.length;
    expect(kept).toBeGreaterThan(0);
    await sleep(50);
    const held = await scrape(registry);
    expect(held.max).toBeGreaterThan(0.28);
    expect(held.max).toBeLessThan(5);
    expect(held.gcs).toBeGreaterThan(0);

    // The window restarts at each scrape: the stall is not reported again.
    await sleep(50);
    const after = await scrape(registry);
    expect(after.max).toBeLessThan(0.2);
    expect(after.p99).toBeLessThanOrEqual(after.max);
    expect(after.gcs).toBeGreaterThanOrEqual(held.gcs);
  });
});
