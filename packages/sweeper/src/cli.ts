/**
 * `pnpm sweep [--dry-run] [--min-age <minutes>] [--json]`: one sweep of what restores left behind.
 * Config from the environment (see README). Exit code 0 when everything chosen was removed, 1 when a
 * removal or an account failed, 2 on a usage or configuration error.
 */
import { parseArgs } from 'node:util';
import { CONFIG_ERROR_EXIT_CODE, ConfigError } from '@ec2-restore/config';
import { RestoreStore } from '@ec2-restore/restore-state';
import { Redis } from 'ioredis';
import { readSweepEnv } from './sweep-config.ts';
import { type SweepReport, sweepLeftovers } from './sweep-leftovers.ts';

const USAGE = 'usage: pnpm sweep [--dry-run] [--min-age <minutes, default 60>] [--json]';

function printText(report: SweepReport): void {
  const mode = report.dryRun ? 'dry run: nothing removed' : 'removed what was chosen';
  console.log(`sweep ${report.startedAt} (${mode}; min age ${report.minAgeMinutes} min)`);
  for (const s of report.scanned) {
    console.log(
      `  searched ${s.accountId} ${s.region}${s.roleArn ? ` as ${s.roleArn}` : ''}: ${s.volumes} volumes, ${s.snapshots} snapshots, ${s.images} images tagged`,
    );
  }
  for (const e of report.locationErrors) {
    console.log(`  NOT searched ${e.roleArn ?? 'source account'} ${e.region}: ${e.error}`);
  }
  const verb = report.dryRun ? 'would remove' : 'planned';
  for (const p of report.planned) {
    const status = p.restoreStatus ?? 'unknown to the store';
    console.log(
      `  ${verb} ${p.resource.kind} ${p.resource.id} (${p.resource.accountId}, restore ${p.restoreId}: ${status})`,
    );
  }
  for (const r of report.removed) {
    const extra = [
      r.unsharedFrom.length > 0 ? `unshared from ${r.unsharedFrom.join(', ')}` : '',
      r.detached ? `detached (${r.detached})` : '',
    ].filter(Boolean);
    console.log(
      `  removed ${r.resource.kind} ${r.resource.id}${extra.length ? ` - ${extra.join('; ')}` : ''}`,
    );
  }
  for (const s of report.skipped)
    console.log(`  kept ${s.resource.kind} ${s.resource.id}: ${s.reason} (${s.detail})`);
  for (const d of report.detaching)
    console.log(`  detaching ${d.resource.kind} ${d.resource.id}: ${d.detail}`);
  for (const f of report.failed) console.log(`  FAILED ${f.resource.kind} ${f.resource.id}: ${f.error}`);
  console.log(
    `found ${report.found.length}, ${report.dryRun ? 'would remove' : 'removed'} ${report.dryRun ? report.planned.length : report.removed.length}, kept ${report.skipped.length}, detaching ${report.detaching.length}, failed ${report.failed.length}`,
  );
}

async function main(): Promise<number> {
  let args: ReturnType<typeof parseArgs<{ options: typeof options }>>;
  const options = {
    'dry-run': { type: 'boolean', default: false },
    'min-age': { type: 'string', default: '60' },
    json: { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
  } as const;
  try {
    args = parseArgs({ options, allowPositionals: false });
  } catch (error) {
    console.error(`${(error as Error).message}\n${USAGE}`);
    return 2;
  }
  if (args.values.help) {
    console.log(USAGE);
    return 0;
  }
  const minAgeMinutes = Number(args.values['min-age']);
  if (!Number.isFinite(minAgeMinutes) || minAgeMinutes < 0) {
    console.error(`--min-age must be a number of minutes >= 0, got "${args.values['min-age']}"\n${USAGE}`);
    return 2;
  }
  let config: ReturnType<typeof readSweepEnv>;
  try {
    config = readSweepEnv(process.env);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    console.error(error.message);
    return CONFIG_ERROR_EXIT_CODE;
  }
  const redis = new Redis(config.redisUrl, { maxRetriesPerRequest: 2, lazyConnect: true });
  try {
    await redis.connect();
    const report = await sweepLeftovers({
      store: new RestoreStore(redis, { prefix: config.statePrefix }),
      source: { region: config.region, ...(config.endpoint ? { endpoint: config.endpoint } : {}) },
      targets: config.targets,
      minAgeMinutes,
      dryRun: args.values['dry-run'],
    });
    if (args.values.json) console.log(JSON.stringify(report, null, 2));
    else printText(report);
    return report.failed.length > 0 || report.locationErrors.length > 0 ? 1 : 0;
  } finally {
    redis.disconnect();
  }
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    console.error(`sweep failed: ${error instanceof Error ? error.message : String(error)}`);
    process.exitCode = 1;
  },
);
