import {
  monitorEventLoopDelay,
  type PerformanceEntry,
  PerformanceObserver,
  constants as perf,
} from 'node:perf_hooks';
import { Counter, Gauge, type Registry } from 'prom-client';

/** How often the event loop is sampled: a delay is how much later than this a tick came. */
const SAMPLE_EVERY_MS = 10;

const gcKinds: Record<number, string> = {
  [perf.NODE_PERFORMANCE_GC_MINOR]: 'minor',
  [perf.NODE_PERFORMANCE_GC_MAJOR]: 'major',
  [perf.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental',
  [perf.NODE_PERFORMANCE_GC_WEAKCB]: 'weakcb',
};

/**
 * The API process's own latency sources, for /metrics: how long the event loop was held (every
 * request waits behind it) since the previous scrape, and the time spent in garbage collection.
 * Every GC entry counts (a PerformanceObserver may hand over several at once).
 *
 * @returns stops the sampling and the observer (tests create many apps in one process).
 */
export function registerRuntimeMetrics(registry: Registry): () => void {
  const delay = monitorEventLoopDelay({ resolution: SAMPLE_EVERY_MS });
  delay.enable();
  // The histogram holds the time between ticks: the part beyond the sampling interval is delay.
  const beyondTick = (nanoseconds: number) => Math.max(0, nanoseconds / 1e9 - SAMPLE_EVERY_MS / 1000);
  new Gauge({
    name: 'ec2restore_api_event_loop_delay_seconds',
    help: 'Event-loop delay of the API process since the previous scrape (every request waits behind it): its 99th percentile and its longest.',
    labelNames: ['stat'],
    registers: [registry],
    collect(this: Gauge<'stat'>) {
      this.set({ stat: 'p99' }, beyondTick(delay.percentile(99)));
      this.set({ stat: 'max' }, beyondTick(delay.max));
      // Restarted at each scrape, so each one covers the time since the previous.
      delay.reset();
    },
  });
  const gcSeconds = new Counter({
    name: 'ec2restore_api_gc_seconds_total',
    help: 'Time the API process spent in garbage collection, by kind (minor, major, incremental, weakcb).',
    labelNames: ['kind'],
    registers: [registry],
  });
  const gcCount = new Counter({
    name: 'ec2restore_api_gc_total',
    help: 'Garbage collections of the API process, by kind.',
    labelNames: ['kind'],
    registers: [registry],
  });
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      // Node 16+ puts the kind in `detail` (https://nodejs.org/api/perf_hooks.html#garbage-collection-gc-details).
      const { detail } = entry as PerformanceEntry & { detail?: { kind?: number } };
      const kind = gcKinds[detail?.kind ?? -1] ?? 'other';
      gcSeconds.inc({ kind }, entry.duration / 1000);
      gcCount.inc({ kind });
    }
  });
  observer.observe({ entryTypes: ['gc'] });
  return () => {
    delay.disable();
    observer.disconnect();
  };
}
