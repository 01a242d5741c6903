import type { RestoreStore, SharedMetrics } from '@ec2-restore/restore-state';
import { Counter, Gauge, Registry } from 'prom-client';

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

  constructor(private readonly store: RestoreStore) {
    const registers = [this.registry];
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

/** Renders the metrics aggregated in Redis in the Prometheus text format. */
export function renderShared(metrics: SharedMetrics): string {
  const lines: string[] = [];
  lines.push('# HELP ec2restore_step_duration_seconds Duration of restore steps from first start to finish.');
  lines.push('# TYPE ec2restore_step_duration_seconds histogram');
  for (const histogram of metrics.stepDurations) {
    const base = { step: histogram.step, status: histogram.status };
    for (const bucket of histogram.buckets) {
      lines.push(
        `ec2restore_step_duration_seconds_bucket${labels({ ...base, le: bucket.le })} ${bucket.count}`,
      );
    }
    lines.push(
      `ec2restore_step_duration_seconds_bucket${labels({ ...base, le: '+Inf' })} ${histogram.count}`,
    );
    lines.push(`ec2restore_step_duration_seconds_sum${labels(base)} ${histogram.sumSeconds}`);
    lines.push(`ec2restore_step_duration_seconds_count${labels(base)} ${histogram.count}`);
  }
  lines.push('# HELP ec2restore_bytes_restored_total Bytes written into restored volumes and snapshots.');
  lines.push('# TYPE ec2restore_bytes_restored_total counter');
  lines.push(`ec2restore_bytes_restored_total ${metrics.bytesWritten}`);
  lines.push(
    '# HELP ec2restore_bytes_verified_total Bytes read back and compared with the restore point by verified restores.',
  );
  lines.push('# TYPE ec2restore_bytes_verified_total counter');
  lines.push(`ec2restore_bytes_verified_total ${metrics.bytesVerified}`);
  lines.push(
    '# HELP ec2restore_aws_calls_total AWS API calls made by the API and the workers, by operation.',
  );
  lines.push('# TYPE ec2restore_aws_calls_total counter');
  for (const call of metrics.awsCalls) {
    lines.push(`ec2restore_aws_calls_total${labels({ operation: call.operation })} ${call.count}`);
  }
  lines.push('# HELP ec2restore_aws_errors_total AWS API calls that failed, by operation and error code.');
  lines.push('# TYPE ec2restore_aws_errors_total counter');
  for (const error of metrics.awsErrors) {
    lines.push(
      `ec2restore_aws_errors_total${labels({ operation: error.operation, code: error.code })} ${error.count}`,
    );
  }
  return `${lines.join('\n')}\n`;
}
