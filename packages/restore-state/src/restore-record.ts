/**
 * How a restore is laid out in Redis and read back: the record hash (`step:<name>:<attribute>` fields),
 * the progress hash (`index:`, `total:`, `done:` per device) and the shared metrics hash.
 */
import type { Redis } from 'ioredis';
import { readRecordsScript, runScript, STEP_DURATION_BUCKETS } from './lua-scripts.ts';
import type { RestoreKeys } from './restore-keys.ts';
import type { SharedMetrics } from './store-options.ts';
import type {
  Restore,
  RestoreError,
  RestoreMode,
  RestoreResult,
  RestoreStatus,
  RestoreStep,
  StepStatus,
  VolumeProgress,
} from './types.ts';

/** The kind of a step for metrics: `snapshot:/dev/xvdb` → `snapshot`. */
export function stepKind(stepName: string): string {
  const separator = stepName.indexOf(':');
  return separator === -1 ? stepName : stepName.slice(0, separator);
}

export function assertByteCount(name: string, value: number): void {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new RangeError(`${name} must be a non-negative integer number of bytes, got ${value}`);
  }
}

export function parseJson<T>(text: string | undefined): T | null {
  return text === undefined ? null : (JSON.parse(text) as T);
}

export function toRestore<Request>(
  fields: Record<string, string>,
  progressFields: Record<string, string>,
): Restore<Request> {
  const steps = new Map<string, RestoreStep & { index: number }>();
  for (const [field, value] of Object.entries(fields)) {
    if (!field.startsWith('step:')) continue;
    const separator = field.lastIndexOf(':');
    const name = field.slice('step:'.length, separator);
    const attribute = field.slice(separator + 1);
    const step = steps.get(name) ?? {
      name,
      status: 'pending' as StepStatus,
      attempts: 0,
      startedAt: null,
      finishedAt: null,
      index: 0,
    };
    if (attribute === 'status') step.status = value as StepStatus;
    else if (attribute === 'attempts') step.attempts = Number(value);
    else if (attribute === 'startedAt') step.startedAt = value;
    else if (attribute === 'finishedAt') step.finishedAt = value;
    else if (attribute === 'index') step.index = Number(value);
    steps.set(name, step);
  }

  const volumes: (VolumeProgress & { index: number })[] = [];
  for (const [field, value] of Object.entries(progressFields)) {
    if (!field.startsWith('index:')) continue;
    const deviceName = field.slice('index:'.length);
    volumes.push({
      deviceName,
      bytesTotal: Number(progressFields[`total:${deviceName}`] ?? 0),
      bytesDone: Number(progressFields[`done:${deviceName}`] ?? 0),
      phase: progressFields[`phase:${deviceName}`] === 'verify' ? 'verify' : 'write',
      bytesVerified: Number(progressFields[`verified:${deviceName}`] ?? 0),
      index: Number(value),
    });
  }
  volumes.sort((a, b) => a.index - b.index);

  return {
    id: fields['id'] ?? '',
    status: fields['status'] as RestoreStatus,
    mode: fields['mode'] as RestoreMode,
    createdAt: fields['createdAt'] ?? '',
    updatedAt: fields['updatedAt'] ?? '',
    request: parseJson<Request>(fields['request']) as Request,
    steps: [...steps.values()].sort((a, b) => a.index - b.index).map(({ index: _index, ...step }) => step),
    progress: {
      bytesTotal: volumes.reduce((sum, volume) => sum + volume.bytesTotal, 0),
      bytesDone: volumes.reduce((sum, volume) => sum + volume.bytesDone, 0),
      volumes: volumes.map(({ index: _index, ...volume }) => volume),
    },
    result: parseJson<RestoreResult>(fields['result']),
    error: parseJson<RestoreError>(fields['error']),
  };
}

/** The shared metrics hash: AWS calls, errors and throttles, bytes written and verified, step durations. */
export function parseMetrics(fields: Record<string, string>): SharedMetrics {
  const metrics: SharedMetrics = {
    stepDurations: [],
    bytesWritten: 0,
    bytesVerified: 0,
    awsCalls: [],
    awsErrors: [],
    awsThrottles: [],
  };
  const histograms = new Map<string, SharedMetrics['stepDurations'][number]>();
  for (const [field, raw] of Object.entries(fields)) {
    const value = Number(raw);
    if (field === 'bytes-written') metrics.bytesWritten = value;
    else if (field === 'bytes-verified') metrics.bytesVerified = value;
    else if (field.startsWith('aws-calls:')) {
      // aws-calls:<operation>|<account>|<region> (counts from before accounts were kept: unknown)
      const [operation = '', accountId = 'unknown', region = 'unknown'] = field.slice(10).split('|');
      metrics.awsCalls.push({ operation, accountId, region, count: value });
    } else if (field.startsWith('aws-errors:')) {
      const [operation = '', code = '', accountId = 'unknown', region = 'unknown'] = field
        .slice('aws-errors:'.length)
        .split('|');
      metrics.awsErrors.push({ operation, code, accountId, region, count: value });
    } else if (field.startsWith('aws-throttles:')) {
      const [operation = '', accountId = 'unknown', region = 'unknown'] = field
        .slice('aws-throttles:'.length)
        .split('|');
      metrics.awsThrottles.push({ operation, accountId, region, count: value });
    } else if (field.startsWith('step:')) {
      // step:<kind>:<status>:<sum|count|le:<bound>>
      const [, step = '', status = '', measure = '', bound] = field.split(':');
      const key = `${step}:${status}`;
      const histogram = histograms.get(key) ?? {
        step,
        status,
        count: 0,
        sumSeconds: 0,
        buckets: STEP_DURATION_BUCKETS.map((le) => ({ le, count: 0 })),
      };
      if (measure === 'sum') histogram.sumSeconds = value;
      else if (measure === 'count') histogram.count = value;
      else if (measure === 'le') {
        const bucket = histogram.buckets.find((b) => b.le === Number(bound));
        if (bucket) bucket.count = value;
      }
      histograms.set(key, histogram);
    }
  }
  metrics.stepDurations = [...histograms.values()];
  return metrics;
}

/** A hash as HGETALL gives it from a script: [field, value, field, value, ...]. */
function hashOf(flat: readonly string[]): Record<string, string> {
  const fields: Record<string, string> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) fields[flat[i]!] = flat[i + 1]!;
  return fields;
}

/**
 * The restores of `ids` that exist, in order: record and progress of each read by one script (one
 * round trip and one atomic read for a whole page, not one per restore).
 */
export async function readRestores<Request>(
  redis: Redis,
  keys: RestoreKeys,
  ids: readonly string[],
): Promise<Restore<Request>[]> {
  if (ids.length === 0) return [];
  const hashKeys = ids.flatMap((id) => [keys.record(id), keys.progress(id)]);
  const replies = (await runScript(redis, readRecordsScript, hashKeys, [])) as unknown as string[][];
  const restores: Restore<Request>[] = [];
  for (let i = 0; i < ids.length; i++) {
    const fields = hashOf(replies[2 * i] ?? []);
    // None with this id (or deleted, expired, between the index read and this one).
    if (fields['id'] !== undefined)
      restores.push(toRestore<Request>(fields, hashOf(replies[2 * i + 1] ?? [])));
  }
  return restores;
}
