/**
 * Data path benchmark (issue 4). One command: `pnpm bench:data-path [--size-gib 2] [--skip-emulator]`.
 *
 * 1. Generates a restore point (default 2 GiB, every third block zero) in a temporary folder repository,
 *    and the same bytes as a sparse raw image.
 * 2. Measures `sha256sum` CPU seconds per GiB over that image (page cache warm), the yardstick.
 * 3. Restores the volume with the EbsDirectWriter, each run in its own process (its own CPU and peak RSS):
 *    into a loopback sink answering at once (64 in flight), and one answering after 100 ms (128 in flight).
 * 4. Against the local AWS emulator: the writer next to a minimal parallel PutSnapshotBlock loop.
 * Prints the figures, the ratios and the targets.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs, promisify } from 'node:util';
import { CreateKeyCommand } from '@aws-sdk/client-kms';
import { createAwsClients } from '@ec2-restore/aws-clients';
import { BLOCKS_PER_GIB } from '@ec2-restore/backup-repository';
import { credentialsForAccount, randomAccountId, startEmulator } from '@ec2-restore/local-aws';
import { generate } from './generate-restore-point.ts';

const here = fileURLToPath(new URL('.', import.meta.url));
const MIB = 1024 * 1024;
const GIB = 1024 * MIB;

const { values } = parseArgs({
  options: {
    'size-gib': { type: 'string', default: '2' },
    'emulator-size-gib': { type: 'string' },
    'skip-emulator': { type: 'boolean', default: false },
    'latency-ms': { type: 'string', default: '100' },
    'in-flight': { type: 'string', default: '64' },
    'latency-in-flight': { type: 'string', default: '128' },
    'emulator-in-flight': { type: 'string', default: '64' },
  },
});
const sizeGiB = Number(values['size-gib']);
const emulatorSizeGiB = Number(values['emulator-size-gib'] ?? values['size-gib']);

interface ScenarioResult {
  seconds: number;
  cpuSeconds: number;
  maxRssBytes: number;
  bytes: number;
  blocks: number;
}

function log(line: string): void {
  process.stderr.write(`${line}\n`);
}

/** CPU seconds (user + sys) sha256sum spends on the image, page cache warm (second of two runs). */
async function sha256sumCpuSeconds(imagePath: string): Promise<number> {
  let cpu = 0;
  for (let run = 0; run < 2; run++) {
    const { stdout } = await promisify(execFile)('bash', [
      '-c',
      'sha256sum "$1" > /dev/null; times',
      'bash',
      imagePath,
    ]);
    // `times` prints the shell's user/sys, then its children's: "0m1.234s 0m0.100s".
    const children = stdout.trim().split('\n')[1] ?? '';
    cpu = [...children.matchAll(/(\d+)m([\d.]+)s/g)].reduce(
      (sum, m) => sum + Number(m[1]) * 60 + Number(m[2]),
      0,
    );
  }
  return cpu;
}

async function startSink(
  latencyMs: number,
): Promise<{ endpoint: string; child: ChildProcess; stop: () => Promise<unknown> }> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', join(here, 'ebs-sink.ts'), '--latency-ms', String(latencyMs)],
    {
      stdio: ['pipe', 'pipe', 'inherit'],
    },
  );
  const lines = createInterface({ input: child.stdout! });
  const iterator = lines[Symbol.asyncIterator]();
  const first = await iterator.next();
  const port = /port=(\d+)/.exec(String(first.value))?.[1];
  if (!port) throw new Error(`sink did not start: ${first.value}`);
  return {
    endpoint: `http://127.0.0.1:${port}`,
    child,
    stop: async () => {
      child.stdin!.end();
      const stats = await iterator.next();
      return JSON.parse(String(stats.value));
    },
  };
}

async function scenario(args: string[], env: NodeJS.ProcessEnv = {}): Promise<ScenarioResult> {
  const { stdout } = await promisify(execFile)(
    process.execPath,
    ['--import', 'tsx', join(here, 'write-scenario.ts'), ...args],
    { env: { ...process.env, ...env }, maxBuffer: 1 << 20 },
  );
  return JSON.parse(stdout.trim().split('\n').pop()!);
}

const mibPerSecond = (r: ScenarioResult) => r.bytes / MIB / r.seconds;
const cpuPerGiB = (r: ScenarioResult) => r.cpuSeconds / (r.bytes / GIB);
const fixed = (n: number, digits = 2) => n.toFixed(digits);

const dir = await mkdtemp(join(tmpdir(), 'bench-data-path-'));
const rows: string[] = [];
const targets: { name: string; value: string; ok: boolean }[] = [];
try {
  log(`generating a ${sizeGiB} GiB restore point (a third zero blocks) in ${dir} ...`);
  const imagePath = await generate(dir, 'bench-rp', sizeGiB);
  const repositoryPath = join(dir, 'repo');

  log('sha256sum ...');
  const shaCpu = await sha256sumCpuSeconds(imagePath);
  const shaCpuPerGiB = shaCpu / sizeGiB;
  rows.push(`sha256sum over the ${sizeGiB} GiB image: ${fixed(shaCpuPerGiB, 3)} CPU s/GiB`);

  const writerArgs = ['--repository', repositoryPath, '--restore-point', 'bench-rp'];
  const sinkRuns: [string, number, number][] = [
    ['sink, instant', 0, Number(values['in-flight'])],
    [
      `sink, +${values['latency-ms']} ms per request`,
      Number(values['latency-ms']),
      Number(values['latency-in-flight']),
    ],
  ];
  const sinkResults: ScenarioResult[] = [];
  for (const [label, latency, inFlight] of sinkRuns) {
    const sink = await startSink(latency);
    const env = { AWS_ACCESS_KEY_ID: 'bench', AWS_SECRET_ACCESS_KEY: 'bench' };
    const common = ['--endpoint', sink.endpoint, '--in-flight', String(inFlight)];
    log(`${label}, ${inFlight} in flight: minimal loop ...`);
    const loop = await scenario(['--mode', 'minimal-loop', '--size-gib', String(sizeGiB), ...common], env);
    log(`${label}, ${inFlight} in flight: writer ...`);
    const result = await scenario([...writerArgs, ...common], env);
    const stats = (await sink.stop()) as { blocks: number; bytes: number };
    if (stats.blocks !== 2 * sizeGiB * BLOCKS_PER_GIB) {
      throw new Error(
        `${label}: the sink received ${stats.blocks} blocks, expected ${2 * sizeGiB * BLOCKS_PER_GIB}`,
      );
    }
    sinkResults.push(result);
    rows.push(
      `writer -> ${label}, ${inFlight} in flight: ${fixed(mibPerSecond(result), 0)} MiB/s, ` +
        `${fixed(cpuPerGiB(result), 3)} CPU s/GiB (${fixed(cpuPerGiB(result) / shaCpuPerGiB)}x sha256sum), ` +
        `peak RSS ${fixed(result.maxRssBytes / MIB, 0)} MiB`,
    );
    rows.push(
      `  minimal PutSnapshotBlock loop, same sink: ${fixed(mibPerSecond(loop), 0)} MiB/s, ` +
        `${fixed(cpuPerGiB(loop), 3)} CPU s/GiB, peak RSS ${fixed(loop.maxRssBytes / MIB, 0)} MiB ` +
        `(writer: ${fixed(mibPerSecond(result) / mibPerSecond(loop))}x its MiB/s)`,
    );
  }
  const [instant, delayed] = sinkResults as [ScenarioResult, ScenarioResult];
  targets.push({
    name: 'CPU per GiB <= 1.5x sha256sum (instant sink)',
    value: `${fixed(cpuPerGiB(instant) / shaCpuPerGiB)}x`,
    ok: cpuPerGiB(instant) <= 1.5 * shaCpuPerGiB,
  });
  targets.push({
    name: `>= 500 MiB/s into the ${values['latency-ms']} ms sink at ${values['latency-in-flight']} in flight`,
    value: `${fixed(mibPerSecond(delayed), 0)} MiB/s`,
    ok: mibPerSecond(delayed) >= 500,
  });
  targets.push({
    name: `peak RSS <= 256 MiB at ${values['latency-in-flight']} in flight`,
    value: `${fixed(delayed.maxRssBytes / MIB, 0)} MiB`,
    ok: delayed.maxRssBytes <= 256 * MIB,
  });

  if (!values['skip-emulator']) {
    log('starting the local AWS emulator ...');
    // The minimal loop writes right after StartSnapshot and does not retry: without the emulator's
    // moment in which a new snapshot "does not exist" (eventual consistency, on by default).
    process.env.EC2RESTORE_EMULATOR_CONSISTENCY_MS ??= '0';
    const emulator = await startEmulator();
    try {
      const accountId = randomAccountId();
      const credentials = credentialsForAccount(accountId);
      const kms = createAwsClients({ region: 'eu-west-1', credentials, endpoint: emulator.endpoint }).kms;
      const key = await kms.send(new CreateKeyCommand({ Description: 'bench data path' }));
      const env = {
        AWS_ACCESS_KEY_ID: credentials.accessKeyId,
        AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey,
        AWS_REGION: 'eu-west-1',
      };
      let emulatorArgs = writerArgs;
      if (emulatorSizeGiB !== sizeGiB) {
        log(`generating a ${emulatorSizeGiB} GiB restore point for the emulator ...`);
        await generate(dir, 'bench-rp-emulator', emulatorSizeGiB);
        emulatorArgs = ['--repository', repositoryPath, '--restore-point', 'bench-rp-emulator'];
      }
      const inFlight = values['emulator-in-flight'];
      const common = [
        '--endpoint',
        emulator.endpoint,
        '--in-flight',
        inFlight,
        '--kms-key-arn',
        key.KeyMetadata!.Arn!,
      ];
      log(`emulator: minimal PutSnapshotBlock loop, ${inFlight} in flight ...`);
      const loop = await scenario(
        ['--mode', 'minimal-loop', '--size-gib', String(emulatorSizeGiB), ...common],
        env,
      );
      log(`emulator: writer, ${inFlight} in flight ...`);
      const writer = await scenario([...emulatorArgs, ...common], env);
      rows.push(
        `emulator, minimal parallel PutSnapshotBlock loop, ${inFlight} in flight: ${fixed(mibPerSecond(loop), 0)} MiB/s`,
      );
      rows.push(
        `emulator, writer, ${inFlight} in flight: ${fixed(mibPerSecond(writer), 0)} MiB/s ` +
          `(${fixed(mibPerSecond(writer) / mibPerSecond(loop))}x the minimal loop)`,
      );
      targets.push({
        name: '>= 0.9x the minimal loop against the emulator',
        value: `${fixed(mibPerSecond(writer) / mibPerSecond(loop))}x`,
        ok: mibPerSecond(writer) >= 0.9 * mibPerSecond(loop),
      });
      kms.destroy();
    } finally {
      await emulator.stop();
    }
  }

  console.log(
    `\nData path benchmark: ${sizeGiB} GiB volume, ${Math.round((sizeGiB * BLOCKS_PER_GIB) / 3)} zero blocks\n`,
  );
  for (const row of rows) console.log(`  ${row}`);
  console.log('\nTargets (issue 4):');
  for (const t of targets) console.log(`  [${t.ok ? 'met' : 'MISSED'}] ${t.name}: ${t.value}`);
} finally {
  await rm(dir, { recursive: true, force: true });
}
