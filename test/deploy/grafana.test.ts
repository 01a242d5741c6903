import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { apiPerFile } from '../support/index.ts';

/** The Grafana dashboard asks only for metrics the API's /metrics really exposes. */

const dashboard = JSON.parse(
  readFileSync(resolve(import.meta.dirname, '..', '..', 'deploy', 'grafana', 'ec2-restore.json'), 'utf8'),
) as { uid: string; panels: { type: string; title: string; targets?: { expr: string }[] }[] };

const api = apiPerFile();

describe('the Grafana dashboard', () => {
  it('queries only metric families that GET /metrics exposes, with their labels', async () => {
    // Make every family appear: a step duration, bytes, an AWS call, error and throttle.
    await api.store.recordAwsCall('EC2.CreateVolume', 'RequestLimitExceeded', {
      accountId: '111111111111',
      region: 'eu-west-1',
    });
    await api.store.recordAwsThrottle('EC2.CreateVolume', { accountId: '111111111111', region: 'eu-west-1' });
    await api.call('/v1/restores');
    const text = await (await api.call('/metrics')).text();
    const families = new Set([...text.matchAll(/^# TYPE (\S+) /gm)].map((match) => match[1]!));

    const panels = dashboard.panels.filter((panel) => panel.type !== 'row');
    expect(panels.length).toBeGreaterThanOrEqual(10);
    for (const panel of panels) {
      expect(panel.targets?.length, panel.title).toBeGreaterThan(0);
      for (const { expr } of panel.targets ?? []) {
        const names = [...expr.matchAll(/\b(ec2restore_\w+)/g)].map((match) => match[1]!);
        expect(names.length, expr).toBeGreaterThan(0);
        for (const name of names) {
          expect(families, `${panel.title}: ${name}`).toContain(name.replace(/_(bucket|sum|count)$/, ''));
        }
        // Every label the query groups by is one the metric's samples have (counters not yet
        // incremented have no samples to check).
        const sampled = new RegExp(`^${names[0]!}\\{`, 'm').test(text);
        for (const by of [...expr.matchAll(/by \(([^)]*)\)/g)].flatMap((match) => match[1]!.split(/,\s*/))) {
          if (by === 'le' || !sampled) continue;
          const metric = names[0]!;
          expect(text, `${panel.title}: ${metric} has no label ${by}`).toMatch(
            new RegExp(`^${metric}\\{[^}]*\\b${by}="`, 'm'),
          );
        }
      }
    }
    for (const wanted of [
      'ec2restore_queue_jobs',
      'ec2restore_queue_oldest_waiting_seconds',
      'ec2restore_restores',
      'ec2restore_step_duration_seconds',
      'ec2restore_bytes_restored_total',
      'ec2restore_bytes_verified_total',
      'ec2restore_aws_calls_total',
      'ec2restore_aws_throttles_total',
    ]) {
      expect(JSON.stringify(dashboard)).toContain(wanted);
    }
  });
});
