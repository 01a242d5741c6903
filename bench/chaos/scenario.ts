/**
 * The chaos run: N restores POSTed at a steady rate through the real API process while worker
 * processes are SIGKILLed and restarted, the API is SIGKILLed and restarted (once between a 202 and
 * the workers starting), Redis (AOF everysec) is restarted, and a proxy answers a share of the EC2
 * calls with throttling or 503. Then every restore the API accepted is checked (./checks.ts).
 * Used by `pnpm bench:chaos` (run.ts) and, small, by test/fault-injection/chaos-restores.test.ts.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RestoreRequest } from '@ec2-restore/contracts';
import { credentialsForAccount, findFreePort } from '@ec2-restore/local-aws';
import type { Restore } from '@ec2-restore/restore-state';
import { type ChaosWorkerGroup, startChaos } from '../../test/support/chaos.ts';
import { seededRandom, startFaultProxy } from '../../test/support/fault-proxy.ts';
import { openPipeline, REGION } from '../../test/support/index.ts';
import { startApiProcess } from './api-process.ts';
import { checkRestores, type Findings, type TrackedRestore } from './checks.ts';
import { startDurableRedis } from './durable-redis.ts';
import { type EventFollower, type FollowedStream, followEvents } from './event-follower.ts';
import { JobKills } from './job-kills.ts';
import { disableKey, openChaosWorld, planMix, requestOf } from './world.ts';

export interface ChaosOptions {
  restores: number;
  /** Pause between two POSTs. */
  postEveryMs: number;
  /** Worker SIGKILLs to aim for (spread over the POST period and a while after). */
  workerKills: number;
  /**
   * How long after the POST period kills go on. A run whose restores all end sooner does fewer kills
   * than aimed for (and says so in its problems). @defaultValue 60 s
   */
  killAfterPostsMs?: number;
  /** API SIGKILL + restarts, the first between a 202 and the workers starting. */
  apiRestarts: number;
  redisRestarts: number;
  /** Share of EC2 calls answered with RequestLimitExceeded or 503 Unavailable. */
  faultRate: number;
  /** How long all restores may take to end after the last POST. */
  boundMs: number;
  /** WORKER_LOCK_SECONDS of the workers: a killed worker's job is back within about twice this. */
  workerLockSeconds: number;
  /** The AWS emulator. */
  awsEndpoint: string;
  seed: number;
  /** Progress lines. @defaultValue discard */
  log?: (line: string) => void;
}

export interface ChaosReport {
  options: Omit<ChaosOptions, 'log'>;
  accepted: number;
  /** Restores found in Redis whose POST never got its 202 (cut by an API kill). */
  acceptedUnseen: number;
  outcomes: Record<string, number>;
  failures: Record<string, number>;
  /** Each failed restore whose key was not revoked: its step and error, to read why. */
  otherFailures: string[];
  findings: Findings;
  streams: { followed: number; delivered: number; hung: string[]; connections: Record<string, number> };
  postToEndMs: { p50: number; p95: number; max: number };
  awsCalls: { ec2: number; ec2PerRestore: number; requests: number; requestsPerRestore: number };
  faults: { RequestLimitExceeded: number; Unavailable: number };
  kills: { workers: number; byService: Record<string, number>; jobsHit: number; jobsHitTwice: number };
  unexpectedWorkerExits: number;
  apiRestarts: number;
  /** Restores the API's relaunch pass moved on: flows added again, refused, cancels it ended. */
  relaunchPass: { relaunched: number; refused: number; cancelled: number };
  redisRestarts: number;
  elapsedMs: number;
  /** Every check passed and every chaos target was met. */
  ok: boolean;
  problems: string[];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function runChaos(options: ChaosOptions): Promise<ChaosReport> {
  const log = options.log ?? (() => {});
  const random = seededRandom(options.seed);
  const started = Date.now();
  const redis = await startDurableRedis();
  process.env.REDIS_URL = redis.url;
  const pipeline = openPipeline();
  const world = await openChaosWorld(2);
  const proxy = await startFaultProxy({
    target: options.awsEndpoint,
    faultRate: options.faultRate,
    random: seededRandom(options.seed + 1),
  });
  const deviceDirs = world.workerInstanceIds.map(() => mkdtempSync(join(tmpdir(), 'ec2r-chaos-dev-')));
  const token = `chaos-${randomUUID()}`;
  const credentials = credentialsForAccount(world.accounts.source.id);
  const env = {
    AWS_ACCESS_KEY_ID: credentials.accessKeyId,
    AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey,
    REDIS_URL: redis.url,
    AWS_ENDPOINT_URL: proxy.endpoint,
    AWS_REGION: REGION,
    BACKUP_REPOSITORY: world.repositoryPath,
    QUEUE_PREFIX: pipeline.queuePrefix,
    STATE_PREFIX: pipeline.statePrefix,
    LOG_LEVEL: 'info',
    WORKER_LOCK_SECONDS: String(options.workerLockSeconds),
    API_TOKENS: `admin:${token}`,
    API_POST_RATE_PER_MINUTE: '100000',
    API_MAX_EVENT_STREAMS: '10000',
    API_MAX_EVENT_STREAMS_PER_TOKEN: '10000',
  };
  const api = await startApiProcess(await findFreePort(), env);
  const call = (path: string, init: RequestInit = {}) =>
    fetch(`${api.baseUrl}${path}`, {
      ...init,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', ...init.headers },
    });

  const plans = planMix(options.restores, random);
  const tracked = new Map<string, TrackedRestore>();
  const followers: EventFollower[] = [];
  const sideTasks: Promise<void>[] = [];
  const problems: string[] = [];
  let stopChaos = async () => {};

  /** POSTs until the API answers (the same Idempotency-Key every time: a retry never adds a restore). */
  const post = async (plan: (typeof plans)[number]): Promise<void> => {
    const { body, target } = await requestOf(world, plan);
    const key = `${pipeline.queuePrefix}-${plan.index}`;
    const postedAt = Date.now();
    for (let attempt = 1; ; attempt++) {
      const response = await call('/v1/restores', {
        method: 'POST',
        body: JSON.stringify(body),
        headers: { 'idempotency-key': key },
      }).catch(() => null);
      const answer = response ? ((await response.json().catch(() => ({}))) as { id?: string }) : {};
      if (response?.status === 202 || (response?.status === 200 && answer.id)) {
        const id = answer.id ?? '';
        tracked.set(id, { id, plan, target, postedAt, endedAt: null, record: null });
        if (plan.follow) followers.push(followEvents(api.baseUrl, token, id));
        if (plan.cancelAfterMs !== null) sideTasks.push(cancelLater(id, plan.cancelAfterMs));
        if (plan.revokeAfterMs !== null)
          sideTasks.push(sleep(plan.revokeAfterMs).then(() => disableKey(target)));
        return;
      }
      if (response && response.status < 500 && response.status !== 429) {
        problems.push(`POST ${plan.name} answered ${response.status}: ${JSON.stringify(answer)}`);
        return;
      }
      if (attempt > 600) {
        problems.push(`POST ${plan.name} never accepted (last ${response?.status ?? 'no answer'})`);
        return;
      }
      await sleep(500);
    }
  };
  const cancelLater = async (id: string, afterMs: number) => {
    await sleep(afterMs);
    for (let attempt = 1; attempt <= 120; attempt++) {
      const response = await call(`/v1/restores/${id}/cancel`, { method: 'POST' }).catch(() => null);
      if (response && (response.status === 202 || response.status === 409)) return;
      await sleep(500);
    }
    problems.push(`cancel of ${id} never answered`);
  };

  try {
    // A restore accepted, then the API killed before any worker runs: the flow must still start.
    const early = plans.slice(0, Math.min(2, plans.length));
    await Promise.all(early.map(post));
    log(`accepted ${tracked.size} before the workers start; killing the API`);
    await api.killAndRestart(500);

    const kills = new JobKills();
    const postingMs = Math.max(1, plans.length - early.length) * options.postEveryMs;
    const killForMs = postingMs + (options.killAfterPostsMs ?? 60_000);
    const pause = killForMs / Math.max(1, options.workerKills);
    const snapshotGroups: ChaosWorkerGroup[] = world.workerInstanceIds.map((instanceId, i) => ({
      service: `snapshot-worker-${i}`,
      entry: 'services/snapshot-worker/src/main.ts',
      count: 1,
      env: { WORKER_INSTANCE_ID: instanceId, WORKER_DEVICE_DIR: deviceDirs[i] ?? '' },
    }));
    const chaos = startChaos({
      groups: [
        ...snapshotGroups,
        { service: 'share-worker', count: 1 },
        { service: 'instance-worker', count: 2 },
      ],
      env,
      killForMs,
      killEveryMs: [pause * 0.5, pause * 1.5],
      random,
      chooseVictim: (alive) => kills.choose(alive, random, 0.4),
      log: (line) => kills.observe(line),
    });
    stopChaos = () => chaos.stop(15_000);

    // API and Redis restarts spread over the POST period.
    const restartsAt = (count: number, offset: number) =>
      Array.from({ length: count }, (_, k) => Date.now() + ((k + offset) / count) * postingMs);
    const apiTimes = restartsAt(options.apiRestarts - 1, 0.3);
    const redisTimes = restartsAt(options.redisRestarts, 0.6);
    const disruptions = (async () => {
      const events = [
        ...apiTimes.map((at) => ({ at, what: 'api' as const })),
        ...redisTimes.map((at) => ({ at, what: 'redis' as const })),
      ].sort((a, b) => a.at - b.at);
      for (const event of events) {
        await sleep(Math.max(0, event.at - Date.now()));
        log(`restarting ${event.what}`);
        try {
          if (event.what === 'api') await api.killAndRestart(1_000);
          else await redis.restart(2_000);
        } catch (error) {
          problems.push(`${event.what} restart: ${(error as Error).message.slice(0, 2_000)}`);
        }
      }
    })();

    for (const plan of plans.slice(early.length)) {
      sideTasks.push(post(plan));
      await sleep(options.postEveryMs);
      if (plan.index % 10 === 0) log(`posted ${plan.index + 1}/${plans.length}, accepted ${tracked.size}`);
    }
    await disruptions;
    await Promise.all(sideTasks.splice(0));
    log(`all ${tracked.size} accepted; waiting for them to end`);

    // Every restore in Redis, also those whose 202 the client never saw.
    const deadline = Date.now() + options.boundMs;
    // Ended, and its cleanup ran (a restore that ended before any step started has nothing to clean).
    const ended = (r: Restore<RestoreRequest> | null) =>
      r !== null &&
      ['succeeded', 'failed', 'cancelled'].includes(r.status) &&
      (r.steps.every((s) => s.status === 'pending') ||
        r.steps.every((s) => s.name !== 'cleanup' || !['pending', 'running'].includes(s.status)));
    for (;;) {
      const listed = await pipeline.store.list({ limit: 100_000 }).catch(() => []);
      for (const r of listed) {
        if (!tracked.has(r.id))
          tracked.set(r.id, {
            id: r.id,
            plan: null,
            target: null,
            postedAt: null,
            endedAt: null,
            record: null,
          });
      }
      let open = 0;
      for (const t of tracked.values()) {
        if (t.endedAt !== null) continue;
        t.record = await pipeline.store.get<RestoreRequest>(t.id).catch(() => t.record);
        if (ended(t.record)) t.endedAt = Date.now();
        else open++;
      }
      if (open === 0 || Date.now() > deadline) break;
      log(`${open} of ${tracked.size} not ended`);
      await sleep(2_000);
    }
    await stopChaos();
    stopChaos = async () => {};

    // Event streams: each must have delivered the end by now (a reconnect resumes after a cut).
    const streamDeadline = Date.now() + 30_000;
    await Promise.race([Promise.all(followers.map((f) => f.done)), sleep(streamDeadline - Date.now())]);
    for (const f of followers) f.abandon();
    const streams: FollowedStream[] = followers.map((f) => f.result);
    const connections: Record<string, number> = {};
    for (const s of streams) for (const c of s.connections) connections[c] = (connections[c] ?? 0) + 1;

    const all = [...tracked.values()];
    const findings = await checkRestores(world, all);
    const outcomes: Record<string, number> = {};
    const failures: Record<string, number> = {};
    const otherFailures: string[] = [];
    for (const t of all) {
      const status = t.record?.status ?? 'lost';
      outcomes[status] = (outcomes[status] ?? 0) + 1;
      if (t.record?.status === 'failed') {
        const cause = `${t.record.error?.category}/${t.record.error?.code}${t.plan?.revokeAfterMs != null ? ' (key revoked)' : ''}${t.plan?.cancelAfterMs != null ? ' (cancel asked)' : ''}`;
        failures[cause] = (failures[cause] ?? 0) + 1;
        if (t.plan?.revokeAfterMs == null) {
          const e = t.record.error;
          otherFailures.push(
            `${t.id} (${t.plan?.name ?? 'unseen'}, ${t.plan?.dataPath ?? ''}) at ${e?.step}: ${e?.code}: ${e?.message?.slice(0, 400)}`,
          );
        }
      }
    }
    const durations = all
      .filter((t) => t.postedAt !== null && t.endedAt !== null)
      .map((t) => (t.endedAt as number) - (t.postedAt as number))
      .sort((a, b) => a - b);
    const quantile = (q: number) =>
      durations[Math.min(durations.length - 1, Math.floor(q * durations.length))] ?? 0;
    const counts = proxy.counts();
    const ec2 = Object.values(counts.ec2Calls).reduce((a, b) => a + b, 0);
    const byService: Record<string, number> = {};
    for (const k of chaos.kills()) byService[k.service] = (byService[k.service] ?? 0) + 1;
    const jobKills = kills.counts();
    const report: ChaosReport = {
      options: { ...options, log: undefined } as ChaosReport['options'],
      accepted: all.length,
      acceptedUnseen: all.filter((t) => t.plan === null).length,
      outcomes,
      failures,
      otherFailures,
      findings,
      streams: {
        followed: streams.length,
        delivered: streams.filter((s) => s.delivered).length,
        hung: streams.filter((s) => s.connections.at(-1) === 'abandoned').map((s) => s.restoreId),
        connections,
      },
      postToEndMs: { p50: quantile(0.5), p95: quantile(0.95), max: durations.at(-1) ?? 0 },
      awsCalls: {
        ec2,
        ec2PerRestore: Math.round(ec2 / Math.max(1, all.length)),
        requests:
          counts.forwarded + counts.injectedTotal.RequestLimitExceeded + counts.injectedTotal.Unavailable,
        requestsPerRestore: Math.round(counts.forwarded / Math.max(1, all.length)),
      },
      faults: { ...counts.injectedTotal },
      kills: { workers: chaos.kills().length, byService, ...jobKills },
      unexpectedWorkerExits: chaos.unexpectedExits().length,
      apiRestarts: api.kills(),
      relaunchPass: {
        relaunched: api.relaunchPass().relaunched.size,
        refused: api.relaunchPass().refused.size,
        cancelled: api.relaunchPass().cancelled.size,
      },
      redisRestarts: redis.restarts(),
      elapsedMs: Date.now() - started,
      ok: false,
      problems,
    };
    for (const [name, list] of Object.entries(findings)) {
      if (list.length > 0) problems.push(`${name}: ${list.length} (${list.slice(0, 5).join('; ')})`);
    }
    const cancelledUnasked = all.filter(
      (t) => t.record?.status === 'cancelled' && t.plan?.cancelAfterMs == null,
    );
    if (cancelledUnasked.length > 0)
      problems.push(`cancelled with no cancel asked: ${cancelledUnasked.map((t) => t.id).join(', ')}`);
    if (report.streams.delivered !== report.streams.followed)
      problems.push(
        `event streams without their end: ${streams.filter((s) => !s.delivered).map((s) => s.restoreId)}`,
      );
    if (report.kills.workers < options.workerKills * 0.8)
      problems.push(`only ${report.kills.workers} worker kills (aimed at ${options.workerKills})`);
    if (options.workerKills >= 30 && report.kills.jobsHitTwice === 0)
      problems.push('no job was interrupted twice (kills aimed at a job killed before never hit)');
    if (report.apiRestarts < options.apiRestarts) problems.push(`only ${report.apiRestarts} API restarts`);
    if (report.redisRestarts < options.redisRestarts)
      problems.push(`only ${report.redisRestarts} Redis restarts`);
    for (const exit of chaos.unexpectedExits())
      problems.push(
        `${exit.service}#${exit.index} exited by itself (${exit.code ?? exit.signal}): ${exit.tail.slice(-500)}`,
      );
    report.ok = problems.length === 0;
    return report;
  } finally {
    for (const f of followers) f.abandon();
    await stopChaos();
    await api.stop();
    await proxy.close();
    await pipeline.close().catch(() => {});
    await redis.stop();
    await world.close();
    for (const dir of deviceDirs) rmSync(dir, { recursive: true, force: true });
  }
}
