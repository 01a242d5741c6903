/**
 * The embedded default (README quick start): Redis, the local AWS emulator with demo accounts, keys and a
 * restore point, the API and the three workers, in one command. Ctrl-C stops everything it started.
 *
 * - Redis: REDIS_URL when set, else a local redis-server on a free port.
 * - AWS: AWS_ENDPOINT_URL when set; else the real AWS when credentials are configured (AWS_ACCESS_KEY_ID
 *   or AWS_PROFILE); else the local emulator, seeded with the demo scenario.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream, mkdirSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { openBackupRepository } from '@ec2-restore/backup-repository';
import {
  createDemoRestorePoint,
  type DemoScenario,
  demoRestoreRequest,
  seedDemoScenario,
} from '@ec2-restore/demo';
import {
  credentialsForAccount,
  DEMO_SOURCE_ACCOUNT_ID,
  DEMO_TARGET_ACCOUNT_ID,
  findFreePort,
  startEmulator,
  startRedis,
} from '@ec2-restore/local-aws';

const root = resolve(import.meta.dirname, '..');
const dataDir = resolve(process.env.EC2_RESTORE_DATA_DIR ?? join(root, '.data'));
const logDir = join(dataDir, 'logs');
const region = process.env.AWS_REGION ?? 'eu-west-1';
const services = ['api', 'snapshot-worker', 'share-worker', 'instance-worker'] as const;

const children: ChildProcess[] = [];
const cleanups: (() => Promise<void>)[] = [];
let stopping = false;

async function stopAll(code: number): Promise<never> {
  if (!stopping) {
    stopping = true;
    console.log('\nstopping ec2-restore…');
    await Promise.allSettled(
      children.map(
        (child) =>
          new Promise<void>((done) => {
            if (child.exitCode !== null || child.signalCode !== null) return done();
            child.once('exit', () => done());
            child.kill('SIGTERM');
            setTimeout(() => child.kill('SIGKILL'), 8_000).unref();
          }),
      ),
    );
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {});
  }
  process.exit(code);
}
process.on('SIGINT', () => void stopAll(0));
process.on('SIGTERM', () => void stopAll(0));

function hasRealAwsCredentials(): boolean {
  return Boolean(
    process.env.AWS_ACCESS_KEY_ID || process.env.AWS_PROFILE || process.env.AWS_WEB_IDENTITY_TOKEN_FILE,
  );
}

function step(message: string): void {
  console.log(`• ${message}`);
}

async function waitForReady(url: string, token: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    try {
      const response = await fetch(`${url}/readyz`, { headers: { authorization: `Bearer ${token}` } });
      if (response.ok) return;
      last = `${response.status} ${await response.text()}`;
    } catch (error) {
      last = (error as Error).message;
    }
    await new Promise((r) => setTimeout(r, 300));
  }
  throw new Error(`the API did not become ready within ${timeoutMs / 1000} s (last answer: ${last})`);
}

function curlFor(apiUrl: string, token: string, restorePointId: string, scenario: DemoScenario): string {
  const body = demoRestoreRequest(scenario, restorePointId);
  return [
    `curl -sS -X POST ${apiUrl}/v1/restores \\`,
    `  -H 'Authorization: Bearer ${token}' -H 'Content-Type: application/json' \\`,
    `  -d '${JSON.stringify(body)}'`,
  ].join('\n');
}

async function main(): Promise<void> {
  // Node 20 is supported until AWS SDK releases after January 2027 need Node 22 (README).
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  mkdirSync(logDir, { recursive: true });
  console.log('ec2-restore: starting the embedded default');

  const redis = await startRedis();
  cleanups.push(() => redis.stop());
  step(`Redis: ${redis.url} (${redis.kind === 'external' ? 'REDIS_URL' : redis.kind})`);

  let endpoint = process.env.AWS_ENDPOINT_URL || undefined;
  const useEmulator = !endpoint && !hasRealAwsCredentials();
  const env: Record<string, string> = {
    REDIS_URL: redis.url,
    AWS_REGION: region,
    LOG_LEVEL: process.env.LOG_LEVEL ?? 'info',
  };
  let scenario: DemoScenario | undefined;
  let restorePointId: string | undefined;
  const backupRepository = process.env.BACKUP_REPOSITORY ?? join(dataDir, 'backups');

  if (useEmulator) {
    const emulatorLog = createWriteStream(join(logDir, 'emulator.log'), { flags: 'a' });
    const emulator = await startEmulator({ log: (line) => emulatorLog.write(`${line}\n`) });
    cleanups.push(() => emulator.stop());
    endpoint = emulator.endpoint;
    step(
      `local AWS emulator: ${endpoint} (moto 5.2.1 + ec2-restore's AWS rules; log in ${logDir}/emulator.log)`,
    );
    const sourceCredentials = credentialsForAccount(DEMO_SOURCE_ACCOUNT_ID);
    scenario = await seedDemoScenario({
      region,
      endpoint,
      sourceAccountId: DEMO_SOURCE_ACCOUNT_ID,
      targetAccountId: DEMO_TARGET_ACCOUNT_ID,
      sourceCredentials,
      targetCredentials: credentialsForAccount(DEMO_TARGET_ACCOUNT_ID),
    });
    step(
      `demo accounts: source ${DEMO_SOURCE_ACCOUNT_ID} (workers; EBS default key ${scenario.source.defaultKeyArn}), ` +
        `target ${DEMO_TARGET_ACCOUNT_ID} (restore role ${scenario.target.roleArn})`,
    );
    // The workers act as the source account.
    env.AWS_ACCESS_KEY_ID = sourceCredentials.accessKeyId;
    env.AWS_SECRET_ACCESS_KEY = sourceCredentials.secretAccessKey;
    const repository = openBackupRepository(backupRepository, { region, endpoint });
    const existing = (await repository.listRestorePoints()).find((rp) => rp.id === 'rp-demo-web-1');
    restorePointId = existing?.id ?? (await createDemoRestorePoint(repository, { id: 'rp-demo-web-1' })).id;
    step(`demo restore point: ${restorePointId} in ${backupRepository}`);
  } else {
    step(
      endpoint
        ? `AWS endpoint: ${endpoint} (AWS_ENDPOINT_URL)`
        : 'AWS: the real AWS, with your configured credentials',
    );
  }
  if (endpoint) env.AWS_ENDPOINT_URL = endpoint;
  env.BACKUP_REPOSITORY = backupRepository;

  // API_TOKENS entries are `<role>:<token>` or a bare token; the banner shows the first token. The
  // generated one is an admin token: on your own machine you may also act in Bull Board.
  const firstEntry = process.env.API_TOKENS?.split(',')[0]?.trim() ?? '';
  const token =
    firstEntry.replace(/^(read|operator|admin):/, '') || `demo-${randomBytes(12).toString('hex')}`;
  env.API_TOKENS = process.env.API_TOKENS ?? `admin:${token}`;
  const port = Number(process.env.PORT ?? (await findFreePort()));
  env.PORT = String(port);
  // A worker-volume restore in the embedded default writes into device files under the data folder.
  env.WORKER_DEVICE_DIR = process.env.WORKER_DEVICE_DIR ?? join(dataDir, 'devices');
  mkdirSync(env.WORKER_DEVICE_DIR, { recursive: true });

  for (const service of services) {
    const log = createWriteStream(join(logDir, `${service}.log`), { flags: 'a' });
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', join(root, 'services', service, 'src', 'main.ts')],
      {
        cwd: root,
        env: { ...process.env, ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    child.stdout?.pipe(log);
    child.stderr?.on('data', (chunk: Buffer) => {
      log.write(chunk);
      process.stderr.write(`[${service}] ${chunk}`);
    });
    child.on('exit', (code, signal) => {
      if (stopping) return;
      console.error(
        `[${service}] exited (${signal ?? `code ${code}`}); see ${join(logDir, `${service}.log`)}`,
      );
      void stopAll(1);
    });
    children.push(child);
  }
  step(`services: ${services.join(', ')} (logs in ${logDir})`);

  const apiUrl = `http://127.0.0.1:${port}`;
  step(`waiting for the API at ${apiUrl}…`);
  await waitForReady(apiUrl, token, 180_000);
  writeFileSync(
    join(dataDir, 'embedded.json'),
    `${JSON.stringify({ apiUrl, token, restorePointId, scenario }, null, 2)}\n`,
  );
  // The demo restore as a request file for the CLI (`pnpm ec2-restore restore --file ...`).
  const demoRequestFile = join(dataDir, 'demo-request.json');
  if (scenario && restorePointId) {
    writeFileSync(
      demoRequestFile,
      `${JSON.stringify(demoRestoreRequest(scenario, restorePointId), null, 2)}\n`,
    );
  }

  console.log(`
ec2-restore is ready.
  API          ${apiUrl}            (Authorization: Bearer ${token})
  Bull Board   ${apiUrl}/admin/queues  (same token)
  OpenAPI      ${apiUrl}/openapi.json
  Metrics      ${apiUrl}/metrics`);
  if (scenario && restorePointId) {
    console.log(`
Restore the demo instance into the target account (cross-account, ebs-direct):

${curlFor(apiUrl, token, restorePointId, scenario)}

Then follow it:  curl -sS -N ${apiUrl}/v1/restores/<id>/events -H 'Authorization: Bearer ${token}'
Or run the whole demo with progress:  pnpm demo

With the CLI (a progress bar per volume, then the result; it finds this API and token by itself here,
elsewhere set EC2_RESTORE_ENDPOINT=${apiUrl} EC2_RESTORE_TOKEN=${token}):
  pnpm ec2-restore points
  pnpm ec2-restore restore --file ${relative(process.cwd(), demoRequestFile) || demoRequestFile}`);
  }
  console.log('\nCtrl-C stops everything this command started.');
}

main().catch(async (error) => {
  console.error(`ec2-restore: could not start: ${(error as Error).message}`);
  await stopAll(1);
});
