/**
 * API latency benchmark: `pnpm bench:api [--seconds 10] [--get-seconds 30] [--plan-concurrency 8]
 * [--get-rate 100] [--restore-points 50]`.
 *
 * Starts Redis, the AWS emulator and the API service (its own process, as in production), seeds the
 * demo cross-account scenario (restore role, keys, network) and a backup repository of
 * `--restore-points` restore points, then loads each route with autocannon and prints p50/p99:
 * - POST /v1/restores/plan and POST /v1/restores with `--plan-concurrency` requests at once (no
 *   workers run: created restores stay queued);
 * - each GET route at `--get-rate` requests per second, evenly spaced, for `--get-seconds`
 *   (`paced-load.ts`: latency counts from when a request was due).
 * Next to each route's latency: the API process's event-loop delay and GC time during that route
 * (read from its /metrics before and after), so a tail shows where it came from.
 * Nothing is timed by a test: this prints figures next to the targets.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { openBackupRepository } from '@ec2-restore/backup-repository';
import { createDemoRestorePoint, demoRestoreRequest } from '@ec2-restore/demo';
import { startLocalStack } from '@ec2-restore/local-aws';
import autocannon from 'autocannon';
import { percentile } from '../restore/timeline.ts';
import { type RunningService, seedDemoAccounts, startService } from '../support/services.ts';
import { cpuShare, sampleCpu } from './cpu-share.ts';
import { pacedLoad } from './paced-load.ts';

const REGION = 'eu-west-1';
const TOKEN = 'bench-api-token';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '10' },
    'get-seconds': { type: 'string', default: '30' },
    // 'burst': autocannon's overallRate, as this benchmark measured before (see paced-load.ts).
    'get-load': { type: 'string', default: 'paced' },
    'plan-concurrency': { type: 'string', default: '8' },
    'get-rate': { type: 'string', default: '100' },
    'restore-points': { type: 'string', default: '50' },
  },
});
const seconds = Number(values.seconds);
const getSeconds = Number(values['get-seconds']);
const getLoad = values['get-load'];
if (getLoad !== 'paced' && getLoad !== 'burst') throw new Error('--get-load is paced or burst');
const planConcurrency = Number(values['plan-concurrency']);
const getRate = Number(values['get-rate']);
const restorePointCount = Number(values['restore-points']);

function log(line: string): void {
  process.stderr.write(`${line}\n`);
}

interface Figures {
  route: string;
  load: string;
  requests: number;
  non2xx: number;
  errors: number;
  p50: number;
  p99: number;
  max: number;
  /** The API process during the route's run (null: not read, e.g. the POST routes). */
  runtime: RuntimeFigures | null;
}

/** Event-loop delay (ms beyond its 10 ms sampling tick) and GC of the API process over one window. */
interface RuntimeFigures {
  loopDelayP99: number;
  loopDelayMax: number;
  gcMs: number;
  majorGcs: number;
  /** CPU of the API process (% of one core) and of the whole machine (% of all cores); null off Linux. */
  cpu: { process: number; machine: number } | null;
}

/** The API's runtime metrics now; reading them also restarts its event-loop delay window. */
async function readRuntime(
  url: string,
): Promise<{ loopDelayP99: number; loopDelayMax: number; gc: Map<string, number> }> {
  const text = await (
    await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } })
  ).text();
  const value = (pattern: RegExp) => Number(pattern.exec(text)?.[1] ?? Number.NaN);
  const gc = new Map<string, number>();
  for (const [, name, kind, v] of text.matchAll(
    /^ec2restore_api_gc_(seconds_total|total)\{kind="(\w+)"\} (\S+)$/gm,
  ))
    gc.set(`${name}:${kind}`, Number(v));
  return {
    loopDelayP99: value(/^ec2restore_api_event_loop_delay_seconds\{stat="p99"\} (\S+)$/m) * 1000,
    loopDelayMax: value(/^ec2restore_api_event_loop_delay_seconds\{stat="max"\} (\S+)$/m) * 1000,
    gc,
  };
}

/** Runs `load` between two reads of the API's runtime metrics: what the process did meanwhile. */
async function withRuntime(url: string, pid: number, load: () => Promise<Figures>): Promise<Figures> {
  const before = await readRuntime(url);
  const cpuBefore = sampleCpu(pid);
  const figures = await load();
  const cpu = cpuShare(cpuBefore, sampleCpu(pid));
  const after = await readRuntime(url);
  const delta = (key: string) => (after.gc.get(key) ?? 0) - (before.gc.get(key) ?? 0);
  const kinds = new Set([...after.gc.keys()].map((key) => key.slice(key.indexOf(':') + 1)));
  return {
    ...figures,
    runtime: {
      loopDelayP99: after.loopDelayP99,
      loopDelayMax: after.loopDelayMax,
      gcMs: [...kinds].reduce((sum, kind) => sum + delta(`seconds_total:${kind}`), 0) * 1000,
      majorGcs: delta('total:major'),
      cpu,
    },
  };
}

async function load(
  route: string,
  loadLabel: string,
  options: autocannon.Options,
  expectStatus: number,
): Promise<Figures> {
  let unexpected = 0;
  const instance = autocannon({
    ...options,
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json', ...options.headers },
  });
  instance.on('response', (_client, statusCode) => {
    if (statusCode !== expectStatus) unexpected++;
  });
  const result = await instance;
  return {
    route,
    load: loadLabel,
    requests: result.requests.total,
    non2xx: unexpected,
    errors: result.errors + result.timeouts,
    p50: result.latency.p50,
    p99: result.latency.p99,
    max: result.latency.max,
    runtime: null,
  };
}

/** A GET route at `getRate` requests/s, evenly spaced, for `getSeconds`. */
async function paced(route: string, url: string): Promise<Figures> {
  const result = await pacedLoad({
    url,
    headers: { authorization: `Bearer ${TOKEN}` },
    rate: getRate,
    seconds: getSeconds,
    expectStatus: 200,
  });
  if (result.maxSendLagMs > 20)
    log(`  (the benchmark itself sent a request up to ${result.maxSendLagMs.toFixed(0)} ms late)`);
  return {
    route,
    load: `${getRate}/s`,
    requests: result.requests,
    non2xx: result.unexpected,
    errors: result.errors,
    p50: percentile(result.latenciesMs, 0.5),
    p99: percentile(result.latenciesMs, 0.99),
    max: Math.max(...result.latenciesMs),
    runtime: null,
  };
}

async function main(): Promise<void> {
  const stack = await startLocalStack();
  const folder = await mkdtemp(join(tmpdir(), 'bench-api-'));
  let api: RunningService | undefined;
  try {
    log('seeding the demo scenario and the repository…');
    const { scenario, workerEnv } = await seedDemoAccounts(REGION, stack.awsEndpoint);
    const repository = openBackupRepository(folder);
    const { id: restorePointId } = await createDemoRestorePoint(repository, { id: 'bench-demo' });
    for (let i = 1; i < restorePointCount; i++) {
      await createDemoRestorePoint(repository, { id: `bench-${String(i).padStart(4, '0')}` });
    }
    const started = await startService('api', {
      ...workerEnv,
      REDIS_URL: stack.redisUrl,
      AWS_ENDPOINT_URL: stack.awsEndpoint,
      BACKUP_REPOSITORY: folder,
      API_TOKENS: TOKEN,
      // The per-token POST rate limit protects AWS from one client; the benchmark measures latency.
      API_POST_RATE_PER_MINUTE: '1000000',
      LOG_LEVEL: 'info',
    });
    api = started;
    const url = started.url;
    const body = JSON.stringify(demoRestoreRequest(scenario, restorePointId));
    const headers = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' };

    // One plan and one restore first: the plan must pass, and GET /v1/restores/{id} needs an id.
    const planned = await fetch(`${url}/v1/restores/plan`, { method: 'POST', headers, body });
    const plan = (await planned.json()) as { ok?: boolean; checks?: { id: string; status: string }[] };
    if (!plan.ok) throw new Error(`the warm-up plan did not pass: ${JSON.stringify(plan)}`);
    const created = await fetch(`${url}/v1/restores`, { method: 'POST', headers, body });
    const restoreId = ((await created.json()) as { id: string }).id;

    const duration = seconds;
    const figures: Figures[] = [];
    log(`POST /v1/restores/plan, ${planConcurrency} at once for ${duration} s…`);
    figures.push(
      await load(
        'POST /v1/restores/plan',
        `${planConcurrency} at once`,
        { url: `${url}/v1/restores/plan`, method: 'POST', body, connections: planConcurrency, duration },
        200,
      ),
    );
    log(`POST /v1/restores, ${planConcurrency} at once for ${duration} s…`);
    figures.push(
      await load(
        'POST /v1/restores',
        `${planConcurrency} at once`,
        { url: `${url}/v1/restores`, method: 'POST', body, connections: planConcurrency, duration },
        202,
      ),
    );
    const gets: [string, string][] = [
      ['GET /v1/restores/{id}', `/v1/restores/${restoreId}`],
      ['GET /v1/restores', '/v1/restores?limit=50'],
      ['GET /v1/restore-points', '/v1/restore-points'],
      ['GET /v1/restore-points/{id}', `/v1/restore-points/${restorePointId}`],
      ['GET /healthz', '/healthz'],
    ];
    for (const [route, path] of gets) {
      log(`${route} at ${getRate}/s for ${getSeconds} s…`);
      const target = `${url}${path}`;
      figures.push(
        await withRuntime(url, started.child.pid ?? 0, () =>
          getLoad === 'paced'
            ? paced(route, target)
            : load(
                route,
                `${getRate}/s burst`,
                { url: target, connections: 10, overallRate: getRate, duration: getSeconds },
                200,
              ),
        ),
      );
    }

    console.log(
      `\nAPI latency (ms), ${restorePointCount} restore points, API in its own process (tsx), emulator as AWS`,
    );
    console.log(
      getLoad === 'paced'
        ? '(GET routes: evenly spaced, latency from when each request was due; API process during each: event-loop delay p99/max, GC ms and major GCs, API CPU % of a core, machine busy % of all cores)'
        : '(GET routes: autocannon overallRate, a burst over 10 connections at the start of each second; API process during each: event-loop delay p99/max, GC ms and major GCs, API CPU % of a core, machine busy % of all cores)',
    );
    const percent = (value: number | undefined) =>
      (value === undefined ? '' : `${value.toFixed(0)}%`).padStart(7);
    const cell = (value: number | undefined, width = 7) =>
      (value === undefined ? '' : value.toFixed(0)).padStart(width);
    console.log(
      `${'route'.padEnd(30)} ${'load'.padEnd(12)} ${'requests'.padStart(8)} ${'bad'.padStart(5)} ${'p50'.padStart(7)} ${'p99'.padStart(7)} ${'max'.padStart(7)}  ${'loop p99'.padStart(8)} ${'loop max'.padStart(8)} ${'GC ms'.padStart(6)} ${'major'.padStart(5)} ${'API cpu'.padStart(7)} ${'machine'.padStart(7)}`,
    );
    for (const f of figures) {
      const r = f.runtime;
      console.log(
        `${f.route.padEnd(30)} ${f.load.padEnd(12)} ${String(f.requests).padStart(8)} ${String(f.non2xx + f.errors).padStart(5)} ${cell(f.p50)} ${cell(f.p99)} ${cell(f.max)}  ${cell(r?.loopDelayP99, 8)} ${cell(r?.loopDelayMax, 8)} ${cell(r?.gcMs, 6)} ${cell(r?.majorGcs, 5)} ${percent(r?.cpu?.process)} ${percent(r?.cpu?.machine)}`,
      );
    }
    const planFigures = figures[0]!;
    const worstGet = Math.max(...figures.slice(2).map((f) => f.p99));
    console.log('\ntargets:');
    console.log(
      `  plan p99 < 1000 ms with ${planConcurrency} at once: ${planFigures.p99.toFixed(0)} ms ${planFigures.p99 < 1000 ? 'MET' : 'MISSED'}`,
    );
    console.log(
      `  GET routes p99 < 50 ms at ${getRate}/s: worst ${worstGet.toFixed(0)} ms ${worstGet < 50 ? 'MET' : 'MISSED'}`,
    );
    const bad = figures.filter((f) => f.non2xx + f.errors > 0);
    if (bad.length > 0) console.log(`  unexpected answers: ${bad.map((f) => f.route).join(', ')}`);
  } finally {
    await api?.stop();
    await stack.stop();
    await rm(folder, { recursive: true, force: true });
  }
}

await main();
