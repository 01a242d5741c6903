import type { RestoreStore, SharedMetrics } from '@ec2-restore/restore-state';
import type { Queue } from 'bullmq';
import { Counter, Gauge, Registry } from 'prom-client';
import { registerRuntimeMetrics } from './runtime-metrics.ts';

/** The job states a queue's depth is reported in (BullMQ's names). */
const queueStates = [
  'wait',
  'active',
  'delayed',
  'waiting-children',
  'prioritized',
  'paused',
  'failed',
] as const;

/**
 * The API's Prometheus metrics. Restores by status, step durations, bytes restored and AWS calls
 * are read from Redis at scrape time (every worker process writes them through the RestoreStore),
 * so one scrape of the API shows the whole deployment; the API's own counters are in-process.
 */
export class ApiMetrics {
  readonly registry = new Registry();
  readonly restoresCreated: Counter<'mode'>;
  readonly preflightFailures: Counter<'check'>;
  readonly httpRequests: Counter<'method' | 'route' | 'status'>;
  /** Stops sampling the event loop and observing GC. */
  readonly close: () => void;

  /**
   * @param queues the pipeline's queues, for their depth and oldest waiting job (read from Redis at
   * scrape time, so they cover every worker). @defaultValue none
   */
  constructor(
    private readonly store: RestoreStore,
    queues: readonly Queue[] = [],
  ) {
    const registers = [this.registry];
    this.close = registerRuntimeMetrics(this.registry);
    this.restoresCreated = new Counter({
      name: 'ec2restore_restores_created_total',
      help: 'Restores accepted by POST /v1/restores, by mode.',
      labelNames: ['mode'],
      registers,
    });
    this.preflightFailures = new Counter({
      name: 'ec2restore_preflight_failures_total',
      help: 'Failed pre-flight checks of rejected restore requests, by check id.',
      labelNames: ['check'],
      registers,
    });
    this.httpRequests = new Counter({
      name: 'ec2restore_http_requests_total',
      help: 'HTTP requests answered by the API.',
      labelNames: ['method', 'route', 'status'],
      registers,
    });
    new Gauge({
      name: 'ec2restore_restores',
      help: 'Restores currently in each status.',
      labelNames: ['status'],
      registers,
      collect: async function (this: Gauge<'status'>) {
        const counts = await store.countByStatus();
        for (const [status, count] of Object.entries(counts)) this.set({ status }, count);
      },
    });
    new Gauge({
      name: 'ec2restore_queue_jobs',
      help: 'Jobs in each pipeline queue by BullMQ state (wait: ready for a worker; delayed: waiting for AWS or a retry).',
      labelNames: ['queue', 'state'],
      registers,
      collect: async function (this: Gauge<'queue' | 'state'>) {
        await Promise.all(
          queues.map(async (queue) => {
            const counts = await queue.getJobCounts(...queueStates);
            for (const state of queueStates) this.set({ queue: queue.name, state }, counts[state] ?? 0);
          }),
        );
      },
    });
    new Gauge({
      name: 'ec2restore_queue_oldest_waiting_seconds',
      help: 'Age of the oldest job waiting for a worker in each queue (0 when none waits).',
      labelNames: ['queue'],
      registers,
      collect: async function (this: Gauge<'queue'>) {
        const now = Date.now();
        await Promise.all(
          queues.map(async (queue) => {
            // asc: the oldest first (BullMQ pushes new jobs at the head of the wait list).
            const [oldest] = await queue.getJobs(['wait'], 0, 0, true);
            this.set({ queue: queue.name }, oldest ? Math.max(0, (now - oldest.timestamp) / 1000) : 0);
          }),
        );
      },
    });
  }

  /** The Prometheus text exposition: in-process metrics, then those shared through Redis. */
  async render(): Promise<string> {
    const [local, shared] = await Promise.all([this.registry.metrics(), this.store.readMetrics()]);
    return `${local}\n${renderShared(shared)}`;
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}

function escapeLabel(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

function labels(values: Record<string, string | number>): string {
  const parts = Object.entries(values).map(([key, value]) => `${key}="${escapeLabel(String(value))}"`);
  return parts.length === 0 ? '' : `{${parts.join(',')}}`;
}

/** Lines of one metric family: its HELP and TYPE, then its samples. */
function family(name: string, type: 'counter' | 'histogram', help: string, samples: string[]): string[] {
  return [`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`, ...samples];
}

/** A counter whose samples are the rows, each with its labels. */
function labelledCounter<T extends { count: number }>(
  name: string,
  help: string,
  rows: readonly T[],
  labelsOf: (row: T) => Record<string, string>,
): string[] {
  return family(
    name,
    'counter',
    help,
    rows.map((row) => `${name}${labels(labelsOf(row))} ${row.count}`),
  );
}

/** Renders the metrics aggregated in Redis in the Prometheus text format. */
export function renderShared(metrics: SharedMetrics): string {
  const duration = 'ec2restore_step_duration_seconds';
  const histograms = metrics.stepDurations.flatMap((histogram) => {
    const base = { step: histogram.step, status: histogram.status };
    return [
      ...histogram.buckets.map(
        (bucket) => `${duration}_bucket${labels({ ...base, le: bucket.le })} ${bucket.count}`,
      ),
      `${duration}_bucket${labels({ ...base, le: '+Inf' })} ${histogram.count}`,
      `${duration}_sum${labels(base)} ${histogram.sumSeconds}`,
      `${duration}_count${labels(base)} ${histogram.count}`,
    ];
  });
  const where = (row: { operation: string; accountId: string; region: string }) => ({
    operation: row.operation,
    account: row.accountId,
    region: row.region,
  });
  const lines = [
    ...family(duration, 'histogram', 'Duration of restore steps from first start to finish.', histograms),
    ...family(
      'ec2restore_bytes_restored_total',
      'counter',
      'Bytes written into restored volumes and snapshots.',
      [`ec2restore_bytes_restored_total ${metrics.bytesWritten}`],
    ),
    ...family(
      'ec2restore_bytes_verified_total',
      'counter',
      'Bytes read back and compared with the restore point by verified restores.',
      [`ec2restore_bytes_verified_total ${metrics.bytesVerified}`],
    ),
    ...labelledCounter(
      'ec2restore_aws_calls_total',
      'AWS API calls made by the API and the workers, by operation, account and region.',
      metrics.awsCalls,
      where,
    ),
    ...labelledCounter(
      'ec2restore_aws_errors_total',
      'AWS API calls that finally failed, by operation, error code, account and region.',
      metrics.awsErrors,
      (error) => ({
        operation: error.operation,
        code: error.code,
        account: error.accountId,
        region: error.region,
      }),
    ),
    ...labelledCounter(
      'ec2restore_aws_throttles_total',
      'Attempts of AWS API calls that AWS throttled (each retry counts), by operation, account and region.',
      metrics.awsThrottles,
      where,
    ),
  ];
  return `${lines.join('\n')}\n`;
}
