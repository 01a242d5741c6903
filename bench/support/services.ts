/**
 * The product's services run by benchmarks as in production: each in its own process, configured by
 * environment variables, ready once its log says so.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { type DemoScenario, seedDemoScenario } from '@ec2-restore/demo';
import { credentialsForAccount, randomAccountId } from '@ec2-restore/local-aws';

const root = resolve(import.meta.dirname, '..', '..');

// Node 20 is supported until AWS SDK releases after January 2027 need Node 22 (README): the notice
// would be printed by the benchmark and by every service it starts, amid the figures.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

export type ServiceName = 'api' | 'snapshot-worker' | 'share-worker' | 'instance-worker';

export interface RunningService {
  name: ServiceName;
  child: ChildProcess;
  /** The API's URL (`http://127.0.0.1:PORT`); empty for a worker. */
  url: string;
  /** SIGTERM, then waits for the exit (SIGKILL after 10 s). */
  stop(): Promise<void>;
}

/**
 * Starts `services/<name>/src/main.ts` and resolves once it is ready: the API when it logs its
 * port, a worker when it logs `worker started`. Its JSON log lines go to `onLog` (default: dropped).
 */
export async function startService(
  name: ServiceName,
  env: Record<string, string>,
  onLog: (line: string) => void = () => {},
): Promise<RunningService> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(root, 'services', name, 'src', 'main.ts')], {
    env: { ...process.env, ...(name === 'api' ? { PORT: '0' } : {}), ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let timer: NodeJS.Timeout | undefined;
  const url = await new Promise<string>((ready, reject) => {
    const lines = createInterface({ input: child.stdout! });
    lines.on('line', (line) => {
      onLog(line);
      const port = /"port":(\d+)/.exec(line)?.[1];
      if (name === 'api' && port) ready(`http://127.0.0.1:${port}`);
      if (name !== 'api' && line.includes('"worker started"')) ready('');
    });
    child.once('exit', (code) => reject(new Error(`${name} exited (${code}) before it was ready`)));
    // A loaded machine compiles and starts a service slowly; the bound only catches a hung one.
    timer = setTimeout(() => reject(new Error(`${name} was not ready within 180 s`)), 180_000);
  }).catch((error: unknown) => {
    // Not left behind: a service that did not come up is stopped here, the caller never sees it.
    child.kill('SIGKILL');
    throw error;
  });
  clearTimeout(timer);
  return {
    name,
    child,
    url,
    stop: () =>
      new Promise<void>((done) => {
        if (child.exitCode !== null || child.signalCode !== null) return done();
        child.once('exit', () => done());
        child.kill('SIGTERM');
        setTimeout(() => child.kill('SIGKILL'), 10_000).unref();
      }),
  };
}

/** Two fresh emulator accounts seeded with the demo cross-account scenario; the workers act as the source. */
export async function seedDemoAccounts(
  region: string,
  awsEndpoint: string,
): Promise<{ scenario: DemoScenario; workerEnv: Record<string, string> }> {
  const sourceAccountId = randomAccountId();
  const targetAccountId = randomAccountId();
  const scenario = await seedDemoScenario({
    region,
    sourceAccountId,
    targetAccountId,
    sourceCredentials: credentialsForAccount(sourceAccountId),
    targetCredentials: credentialsForAccount(targetAccountId),
    endpoint: awsEndpoint,
  });
  const worker = credentialsForAccount(sourceAccountId);
  return {
    scenario,
    workerEnv: {
      AWS_REGION: region,
      AWS_ACCESS_KEY_ID: worker.accessKeyId,
      AWS_SECRET_ACCESS_KEY: worker.secretAccessKey,
    },
  };
}
