/**
 * `pnpm bench:chaos`: the chaos run of ./scenario.ts against a fresh emulator (or AWS_ENDPOINT_URL),
 * then its report; exits 1 when a check failed. Variables: CHAOS_RESTORES (200), CHAOS_POST_EVERY_MS
 * (3000), CHAOS_WORKER_KILLS (60), CHAOS_API_RESTARTS (3), CHAOS_REDIS_RESTARTS (2), CHAOS_FAULT_RATE
 * (0.1), CHAOS_BOUND_MINUTES (60), CHAOS_LOCK_SECONDS (30, the workers' WORKER_LOCK_SECONDS), CHAOS_SEED (1), CHAOS_REPORT (a file for the JSON report).
 */
import { writeFileSync } from 'node:fs';
import { startEmulator } from '@ec2-restore/local-aws';
import { type ChaosReport, runChaos } from './scenario.ts';

const number = (name: string, fallback: number) => {
  const value = Number(process.env[name] ?? fallback);
  if (!Number.isFinite(value) || value < 0)
    throw new Error(`${name} must be a number >= 0, got ${process.env[name]}`);
  return value;
};

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
process.env.AWS_ACCESS_KEY_ID ??= 'testing';
process.env.AWS_SECRET_ACCESS_KEY ??= 'testing';
const external = process.env.AWS_ENDPOINT_URL;
const emulator = external ? undefined : await startEmulator();
const awsEndpoint = external ?? emulator?.endpoint ?? '';
process.env.AWS_ENDPOINT_URL = awsEndpoint;
const at = () => new Date().toISOString().slice(11, 19);
let report: ChaosReport;
try {
  report = await runChaos({
    restores: number('CHAOS_RESTORES', 200),
    postEveryMs: number('CHAOS_POST_EVERY_MS', 3_000),
    workerKills: number('CHAOS_WORKER_KILLS', 60),
    apiRestarts: number('CHAOS_API_RESTARTS', 3),
    redisRestarts: number('CHAOS_REDIS_RESTARTS', 2),
    faultRate: number('CHAOS_FAULT_RATE', 0.1),
    boundMs: number('CHAOS_BOUND_MINUTES', 60) * 60_000,
    workerLockSeconds: number('CHAOS_LOCK_SECONDS', 30),
    awsEndpoint,
    seed: number('CHAOS_SEED', 1),
    log: (line) => process.stdout.write(`${at()} ${line}\n`),
  });
} finally {
  await emulator?.stop();
}
if (process.env.CHAOS_REPORT) writeFileSync(process.env.CHAOS_REPORT, `${JSON.stringify(report, null, 2)}\n`);
process.stdout.write(`\n${formatReport(report)}\n`);
process.exit(report.ok ? 0 : 1);

function formatReport(r: ChaosReport): string {
  const f = r.findings;
  const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
  return [
    `chaos run: ${r.options.restores} restores POSTed, one every ${r.options.postEveryMs} ms, in ${s(r.elapsedMs)}`,
    `accepted ${r.accepted} (${r.acceptedUnseen} found only in Redis: POST cut by an API kill)`,
    `ended: ${Object.entries(r.outcomes)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')}`,
    `failed, by cause: ${
      Object.entries(r.failures)
        .map(([k, v]) => `${k} ${v}`)
        .join(', ') || 'none'
    }`,
    ...r.otherFailures.map((line) => `  failed (key not revoked): ${line}`),
    `lost ${f.lost.length}, not ended ${f.notEnded.length}, unexplained ${f.unexplained.length}, wrong result ${f.wrongResult.length}, duplicated ${f.duplicates.length}, leftovers ${f.leftovers.length}`,
    `event streams: ${r.streams.followed} followed, ${r.streams.delivered} delivered the end, ${r.streams.hung.length} hung; connections ended: ${Object.entries(
      r.streams.connections,
    )
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')}`,
    `POST to end: p50 ${s(r.postToEndMs.p50)}, p95 ${s(r.postToEndMs.p95)}, max ${s(r.postToEndMs.max)}`,
    `AWS calls: ${r.awsCalls.ec2} EC2 (${r.awsCalls.ec2PerRestore} per restore), ${r.awsCalls.requests} requests in all (${r.awsCalls.requestsPerRestore} per restore)`,
    `faults injected: ${Object.entries(r.faults)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')}`,
    `kills: ${r.kills.workers} worker SIGKILLs (${Object.entries(r.kills.byService)
      .map(([k, v]) => `${k} ${v}`)
      .join(
        ', ',
      )}); ${r.kills.jobsHit} jobs interrupted, ${r.kills.jobsHitTwice} of them twice or more; API SIGKILL+restart ${r.apiRestarts}; Redis restarts ${r.redisRestarts}; unexpected worker exits ${r.unexpectedWorkerExits}`,
    `API relaunch pass: flows added again ${r.relaunchPass.relaunched}, refused ${r.relaunchPass.refused}, cancels ended (no worker had taken a job) ${r.relaunchPass.cancelled}`,
    r.ok ? 'verdict: OK' : `verdict: FAILED\n  ${r.problems.join('\n  ')}`,
  ].join('\n');
}
