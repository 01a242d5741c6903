import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '@ec2-restore/api';
import { findFreePort } from '@ec2-restore/local-aws';
import { connectRedis, inspectRedisDurability } from '@ec2-restore/redis-config';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SNAPSHOT_WORKER_NODE_FLAGS } from '../../services/snapshot-worker/src/node-flags.ts';
import { type ComposeService, loadComposeFile, REPO_ROOT } from './compose-file.ts';

// What an operator gives `docker compose up` on real AWS (README / docs/operations.md).
const operatorEnv = {
  AWS_REGION: 'eu-west-1',
  BACKUP_REPOSITORY: 's3://my-backups/ec2',
  API_TOKENS: 'b7a1e0c4d2f94e1aa3c56f0e9d8b7a61',
};
const NODE_SERVICES = ['api', 'snapshot-worker', 'share-worker', 'instance-worker'];
const exists = (relative: string) => existsSync(join(REPO_ROOT, relative));

// The image compiles the services (`pnpm build`) and runs the JavaScript with plain node: so do these tests.
beforeAll(() => {
  execFileSync(process.execPath, ['--import', 'tsx', 'scripts/build.ts', ...NODE_SERVICES], {
    cwd: REPO_ROOT,
    stdio: 'pipe',
    timeout: 300_000,
  });
}, 320_000);

const children: ChildProcess[] = [];
const cleanups: Array<() => void> = [];
afterAll(() => {
  for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
  for (const cleanup of cleanups) cleanup();
});

describe('docker-compose.yml', () => {
  it('refuses to start without the variables every deployment needs, naming each', () => {
    expect(() => loadComposeFile({})).toThrow(/AWS_REGION: set AWS_REGION/);
    expect(() => loadComposeFile({ AWS_REGION: 'eu-west-1' })).toThrow(
      /API_TOKENS: .*\n?.*BACKUP_REPOSITORY|BACKUP_REPOSITORY/,
    );
    expect(() => loadComposeFile(operatorEnv)).not.toThrow();
  });

  it('has Redis, the API, the three workers and an emulator that only runs under its profile', () => {
    const { services, volumes } = loadComposeFile(operatorEnv);
    expect(Object.keys(services).sort()).toEqual(
      ['api', 'emulator', 'instance-worker', 'redis', 'share-worker', 'snapshot-worker'].sort(),
    );
    expect(services.emulator?.profiles).toEqual(['emulator']);
    for (const name of Object.keys(services).filter((n) => n !== 'emulator')) {
      expect(services[name]?.profiles, name).toBeUndefined();
    }
    expect(volumes).toHaveProperty('redis-data');
  });

  it("runs Redis with AOF and noeviction: the product's own durability check finds nothing to warn about", async () => {
    const redis = loadComposeFile(operatorEnv).services.redis!;
    const command = redis.command!;
    expect(command[0]).toBe('redis-server');
    const flag = (name: string) => command[command.indexOf(name) + 1];
    expect(flag('--appendonly')).toBe('yes');
    expect(flag('--appendfsync')).toBe('everysec');
    expect(flag('--maxmemory-policy')).toBe('noeviction');
    expect(redis.volumes).toContain('redis-data:/data');
    expect(redis.healthcheck?.test).toEqual(['CMD', 'redis-cli', 'ping']);

    // The same command line on this machine's redis-server (the image's is the same program).
    const port = await findFreePort();
    const dir = mkdtempSync(join(tmpdir(), 'compose-redis-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const server = spawn(
      'redis-server',
      [...command.slice(1), '--port', String(port), '--bind', '127.0.0.1', '--dir', dir],
      {
        stdio: 'ignore',
      },
    );
    children.push(server);
    const client = await connectRedis(`redis://127.0.0.1:${port}`, 'producer');
    try {
      expect(await inspectRedisDurability(client)).toEqual({
        maxmemoryPolicy: 'noeviction',
        aofEnabled: true,
        warnings: [],
      });
    } finally {
      client.disconnect();
    }
  });

  it('starts each service from a file that exists, with its own replica count from the environment', () => {
    const defaults = loadComposeFile(operatorEnv).services;
    const scaled = loadComposeFile({
      ...operatorEnv,
      SNAPSHOT_WORKER_REPLICAS: '6',
      SHARE_WORKER_REPLICAS: '3',
      INSTANCE_WORKER_REPLICAS: '2',
    }).services;
    for (const name of NODE_SERVICES) {
      const service = defaults[name]!;
      // The compiled service (scripts/build.ts, built in beforeAll as the image builds it).
      const flags = name === 'snapshot-worker' ? SNAPSHOT_WORKER_NODE_FLAGS : [];
      expect(service.command, name).toEqual(['node', ...flags, `services/${name}/dist/main.js`]);
      expect(exists(service.command!.at(-1)!), `${service.command!.at(-1)} exists`).toBe(true);
      expect(service.environment?.SERVICE, name).toBe(name);
      expect(service.build).toEqual({ context: '.', dockerfile: 'Dockerfile' });
      expect(service.depends_on).toEqual({ redis: { condition: 'service_healthy' } });
      expect(service.environment?.REDIS_URL).toBe('redis://redis:6379');
      // Health checks run a file that is in the image.
      expect(service.healthcheck?.test.slice(0, 3), name).toEqual(['CMD', 'node', 'docker/healthcheck.mjs']);
    }
    expect(exists('docker/healthcheck.mjs')).toBe(true);
    expect(Object.fromEntries(NODE_SERVICES.map((n) => [n, String(defaults[n]!.deploy?.replicas)]))).toEqual({
      api: '1',
      'snapshot-worker': '2',
      'share-worker': '1',
      'instance-worker': '1',
    });
    expect(Object.fromEntries(NODE_SERVICES.map((n) => [n, String(scaled[n]!.deploy?.replicas)]))).toEqual({
      api: '1',
      'snapshot-worker': '6',
      'share-worker': '3',
      'instance-worker': '2',
    });
  });

  it('passes WORKER_INSTANCE_ID to the snapshot worker only when set (worker-volume on an EC2 host)', () => {
    const plain = loadComposeFile(operatorEnv).services['snapshot-worker']!.environment!;
    expect(plain).not.toHaveProperty('WORKER_INSTANCE_ID');
    const onEc2 = loadComposeFile({ ...operatorEnv, WORKER_INSTANCE_ID: 'i-0123456789abcdef0' });
    expect(onEc2.services['snapshot-worker']!.environment!.WORKER_INSTANCE_ID).toBe('i-0123456789abcdef0');
  });

  it('passes AWS settings through only when the operator sets them', () => {
    const onAws = loadComposeFile(operatorEnv).services['instance-worker']!.environment!;
    expect(onAws).not.toHaveProperty('AWS_ENDPOINT_URL');
    expect(onAws).not.toHaveProperty('AWS_ACCESS_KEY_ID');
    expect(onAws).not.toHaveProperty('EC2_BUDGET_MUTATING_BURST');
    const local = loadComposeFile({
      ...operatorEnv,
      AWS_ENDPOINT_URL: 'http://emulator:5000',
      AWS_ACCESS_KEY_ID: 'AKIAEMU0111111111111',
      EC2_BUDGET_MUTATING_BURST: '50',
    }).services['instance-worker']!.environment!;
    expect(local).toMatchObject({
      AWS_ENDPOINT_URL: 'http://emulator:5000',
      AWS_ACCESS_KEY_ID: 'AKIAEMU0111111111111',
      EC2_BUDGET_MUTATING_BURST: '50',
    });
  });

  it('gives the API every variable its configuration requires', () => {
    const env = loadComposeFile(operatorEnv).services.api!.environment!;
    expect(loadConfig(env)).toMatchObject({
      redisUrl: 'redis://redis:6379',
      awsRegion: 'eu-west-1',
      backupRepository: 's3://my-backups/ec2',
      // A bare token in API_TOKENS is an operator token (services/api README, token roles).
      apiTokens: [{ token: operatorEnv.API_TOKENS, role: 'operator' }],
      port: 8080,
    });
  });

  it('gives each worker every variable its configuration requires: the real mains accept it and start', async () => {
    const { services } = loadComposeFile(operatorEnv);
    // The compose network's `redis` host does not exist here: point the workers at a closed local port
    // (they start, then retry Redis), and change nothing else.
    const closedPort = await findFreePort();
    const outcomes = await Promise.all(
      ['snapshot-worker', 'share-worker', 'instance-worker'].map((name) =>
        startUntilRunning(name, services[name]!, `redis://127.0.0.1:${closedPort}`),
      ),
    );
    for (const outcome of outcomes) expect(outcome).toEqual({ started: true, output: expect.any(String) });
  }, 150_000);

  it('runs the compiled API with plain node: health, readiness, the API reference and Bull Board answer', async () => {
    const { services } = loadComposeFile(operatorEnv);
    const port = await findFreePort();
    const repository = mkdtempSync(join(tmpdir(), 'compose-api-repo-'));
    cleanups.push(() => rmSync(repository, { recursive: true, force: true }));
    const env = {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      ...services.api!.environment,
      REDIS_URL: process.env.REDIS_URL as string,
      BACKUP_REPOSITORY: repository,
      PORT: String(port),
    };
    const child = spawn(process.execPath, services.api!.command!.slice(1), {
      cwd: REPO_ROOT,
      env,
      stdio: 'pipe',
    });
    children.push(child);
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    const base = `http://127.0.0.1:${port}`;
    const bearer = { authorization: `Bearer ${operatorEnv.API_TOKENS}` };
    const basic = {
      authorization: `Basic ${Buffer.from(`ops:${operatorEnv.API_TOKENS}`).toString('base64')}`,
    };
    await expect
      .poll(
        () =>
          fetch(`${base}/healthz`).then(
            (r) => r.status,
            () => 0,
          ),
        { timeout: 60_000, interval: 500 },
      )
      .toBe(200);
    expect((await fetch(`${base}/readyz`, { headers: bearer })).status, output).toBe(200);
    expect((await fetch(`${base}/v1/restore-points`, { headers: bearer })).status, output).toBe(200);
    // Packages the bundle leaves to node_modules at run time: Swagger UI's files and Bull Board's UI.
    const bundle = await fetch(`${base}/docs/swagger-ui-bundle.js`, { headers: basic });
    expect(bundle.status, output).toBe(200);
    expect((await bundle.text()).length).toBeGreaterThan(100_000);
    expect((await fetch(`${base}/admin/queues`, { headers: basic })).status, output).toBe(200);
    child.kill('SIGTERM');
  }, 120_000);
});

describe('Dockerfiles', () => {
  it('builds the services on Node 20 with the pinned pnpm and the frozen lockfile, and runs services/$SERVICE', () => {
    const dockerfile = readFileSync(join(REPO_ROOT, 'Dockerfile'), 'utf8');
    const pnpmVersion = JSON.parse(
      readFileSync(join(REPO_ROOT, 'package.json'), 'utf8'),
    ).packageManager.split('@')[1];
    expect(dockerfile).toMatch(/^FROM node:20-bookworm-slim AS base$/m);
    expect(dockerfile).toContain(`ARG PNPM_VERSION=${pnpmVersion}`);
    expect(dockerfile).toContain('RUN pnpm install --offline --frozen-lockfile');
    expect(dockerfile).toContain('RUN pnpm build && pnpm install --offline --frozen-lockfile --prod');
    // biome-ignore lint/suspicious/noTemplateCurlyInString: the Dockerfile's shell variable, not a template
    expect(dockerfile).toContain('exec node services/${SERVICE}/dist/main.js');
    expect(dockerfile).not.toMatch(/--import tsx/);
    for (const name of NODE_SERVICES) expect(exists(`services/${name}/dist/main.js`), name).toBe(true);
    const ignored = readFileSync(join(REPO_ROOT, '.dockerignore'), 'utf8');
    expect(ignored).toContain('**/node_modules');
  });

  it('builds the emulator from moto 5.2.1 and the package the launcher runs', () => {
    const emulator = loadComposeFile(operatorEnv).services.emulator!;
    expect(emulator.build).toEqual({ context: '.', dockerfile: 'docker/emulator.Dockerfile' });
    expect(emulator.stdin_open).toBe(true);
    const dockerfile = readFileSync(join(REPO_ROOT, 'docker/emulator.Dockerfile'), 'utf8');
    const pinned = readFileSync(
      join(REPO_ROOT, 'packages/local-aws/emulator/ec2restore_emulator/__init__.py'),
      'utf8',
    );
    const version = /REQUIRED_MOTO_VERSION = "([\d.]+)"/.exec(pinned)?.[1];
    expect(dockerfile).toContain(`"moto[server]==${version}"`);
    expect(dockerfile).toContain('COPY packages/local-aws/emulator/ /emulator/');
    expect(exists('packages/local-aws/emulator/ec2restore_emulator/__main__.py')).toBe(true);
    expect(dockerfile).toContain('"--host", "0.0.0.0", "--port", "5000"');
  });
});

/** Runs a worker main with the compose environment until it logs "worker started" or exits. */
function startUntilRunning(
  name: string,
  service: ComposeService,
  redisUrl: string,
): Promise<{ started: boolean; output: string }> {
  const env = { PATH: process.env.PATH, HOME: process.env.HOME, ...service.environment, REDIS_URL: redisUrl };
  const child = spawn(process.execPath, service.command!.slice(1), {
    cwd: REPO_ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let output = '';
  return new Promise((resolve) => {
    const finish = (started: boolean) => {
      clearTimeout(timer);
      child.kill('SIGKILL');
      resolve({ started, output: started ? name : `${name}: ${output.slice(-2_000)}` });
    };
    const timer = setTimeout(() => finish(false), 120_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString('utf8');
      if (output.includes('"msg":"worker started"')) finish(true);
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('exit', () => finish(false));
  });
}
