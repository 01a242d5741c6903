/**
 * API latency benchmark: `pnpm bench:api [--seconds 10] [--plan-concurrency 8] [--get-rate 100]
 * [--restore-points 50]`.
 *
 * Starts Redis, the AWS emulator and the API service (its own process, as in production), seeds the
 * demo cross-account scenario (restore role, keys, network) and a backup repository of
 * `--restore-points` restore points, then loads each route with autocannon and prints p50/p99:
 * - POST /v1/restores/plan and POST /v1/restores with `--plan-concurrency` requests at once (no
 *   workers run: created restores stay queued);
 * - the GET routes at `--get-rate` requests per second in total.
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
import { type RunningService, seedDemoAccounts, startService } from '../support/services.ts';

const REGION = 'eu-west-1';
const TOKEN = 'bench-api-token';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '10' },
    'plan-concurrency': { type: 'string', default: '8' },
    'get-rate': { type: 'string', default: '100' },
    'restore-points': { type: 'string', default: '50' },
  },
});
const seconds = Number(values.seconds);
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
      log(`${route} at ${getRate}/s for ${duration} s…`);
      figures.push(
        await load(
          route,
          `${getRate}/s`,
          { url: `${url}${path}`, connections: 10, overallRate: getRate, duration },
          200,
        ),
      );
    }

    console.log(
      `\nAPI latency (ms), ${restorePointCount} restore points, API in its own process (tsx), emulator as AWS`,
    );
    console.log(
      `${'route'.padEnd(30)} ${'load'.padEnd(12)} ${'requests'.padStart(8)} ${'bad'.padStart(5)} ${'p50'.padStart(7)} ${'p99'.padStart(7)} ${'max'.padStart(7)}`,
    );
    for (const f of figures) {
      console.log(
        `${f.route.padEnd(30)} ${f.load.padEnd(12)} ${String(f.requests).padStart(8)} ${String(f.non2xx + f.errors).padStart(5)} ${f.p50.toFixed(0).padStart(7)} ${f.p99.toFixed(0).padStart(7)} ${f.max.toFixed(0).padStart(7)}`,
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
