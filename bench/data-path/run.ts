/**
 * Data path benchmark. One command: `pnpm bench:data-path [--size-gib 2] [--skip-emulator]`.
 *
 * 1. Generates a restore point (default 2 GiB of random blocks, `--zero-every N` for sparse ones) in a
 *    temporary folder repository, and the same bytes as a sparse raw image.
 * 2. Measures `openssl dgst -sha256` CPU seconds per GiB over that image (page cache warm): the yardstick;
 *    then reads the repository once, so the writers too read it page-cache warm.
 * 3. Compiles the measured client (write-scenario.ts) with esbuild, as production runs the workers, and
 *    runs each client in its own plain-node process (its own CPU and peak RSS), side by side into the
 *    same loopback sink answering after 100 ms, 128 in flight: a plain node:http loop doing the same
 *    PUTs, the SDK's minimal loop, and the product's EbsDirectWriter restoring the volume.
 * 4. Against the local AWS emulator: the writer next to the SDK's minimal loop.
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
import { bundle } from '../../scripts/bundle.ts';
import { SNAPSHOT_WORKER_NODE_FLAGS } from '../../services/snapshot-worker/src/node-flags.ts';
import { generate } from './generate-restore-point.ts';

const here = fileURLToPath(new URL('.', import.meta.url));
const MIB = 1024 * 1024;
const GIB = 1024 * MIB;

const { values } = parseArgs({
  options: {
    'size-gib': { type: 'string', default: '2' },
    'zero-every': { type: 'string', default: '0' },
    'instant-sink': { type: 'boolean', default: false },
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
  /** The write: from before StartSnapshot until the client returned. */
  cpuSeconds: number;
  /** The whole process, node start-up and module loading included. */
  processCpuSeconds: number;
  /** From the first block written to the last: no fixed cost. */
  steady?: { seconds: number; cpuSeconds: number; bytes: number };
  maxRssBytes: number;
  bytes: number;
  blocks: number;
}

function log(line: string): void {
  process.stderr.write(`${line}\n`);
}

/** CPU seconds (user + sys) `openssl dgst -sha256` spends on the image, page cache warm (second of two runs). */
async function opensslCpuSeconds(imagePath: string): Promise<number> {
  let cpu = 0;
  for (let run = 0; run < 2; run++) {
    const { stdout } = await promisify(execFile)('bash', [
      '-c',
      'openssl dgst -sha256 "$1" > /dev/null; times',
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

let compiledScenario = '';

/**
 * One client run in its own process, compiled JavaScript under plain node with the snapshot worker's
 * node flags (as production runs the writer; every client gets them, so the yardsticks run on the
 * same node).
 */
async function scenario(
  args: string[],
  env: NodeJS.ProcessEnv = {},
  nodeFlags: readonly string[] = SNAPSHOT_WORKER_NODE_FLAGS,
): Promise<ScenarioResult> {
  const nodeArgs = [...nodeFlags, compiledScenario, ...args];
  const { stdout } = await promisify(execFile)(process.execPath, nodeArgs, {
    env: { ...process.env, ...env },
    maxBuffer: 1 << 20,
  });
  return JSON.parse(stdout.trim().split('\n').pop()!);
}

const mibPerSecond = (r: ScenarioResult) => r.bytes / MIB / r.seconds;
const cpuPerGiB = (r: ScenarioResult) => r.cpuSeconds / (r.bytes / GIB);
const processCpuPerGiB = (r: ScenarioResult) => r.processCpuSeconds / (r.bytes / GIB);
const steadyCpuPerGiB = (r: ScenarioResult) =>
  r.steady ? r.steady.cpuSeconds / (r.steady.bytes / GIB) : Number.NaN;
const fixed = (n: number, digits = 2) => n.toFixed(digits);

const dir = await mkdtemp(join(tmpdir(), 'bench-data-path-'));
const rows: string[] = [];
const targets: { name: string; value: string; ok: boolean }[] = [];
try {
  const zeroEvery = Number(values['zero-every']);
  log(`generating a ${sizeGiB} GiB restore point in ${dir} ...`);
  const imagePath = await generate(dir, 'bench-rp', sizeGiB, zeroEvery);
  const repositoryPath = join(dir, 'repo');
  compiledScenario = join(dir, 'write-scenario.mjs');
  await bundle({ entry: join(here, 'write-scenario.ts'), outfile: compiledScenario });

  log('openssl dgst -sha256 ...');
  const opensslCpuPerGiB = (await opensslCpuSeconds(imagePath)) / sizeGiB;
  // openssl is measured on its second pass over the image; the writers read the repository's block
  // files page-cache warm too: once here, unmeasured. Otherwise the first writer row alone pays the
  // kernel's first read of freshly written pages, and the rows after it do not.
  log('reading the repository once ...');
  await promisify(execFile)('sh', [
    '-c',
    'find "$1" -type f -exec cat {} + > /dev/null',
    'sh',
    repositoryPath,
  ]);
  rows.push(`openssl dgst -sha256 over the ${sizeGiB} GiB image: ${fixed(opensslCpuPerGiB, 3)} CPU s/GiB`);
  rows.push(
    SNAPSHOT_WORKER_NODE_FLAGS.length > 0
      ? `clients: node ${SNAPSHOT_WORKER_NODE_FLAGS.join(' ')} (the snapshot worker's node flags)`
      : 'clients: plain node (the snapshot worker runs with no node flags)',
  );

  // The sink has no per-snapshot quota: the writer's spacing (under AWS's 1,000 PutSnapshotBlock per second
  // per snapshot) is off, so that the targets measure what the writer itself can do. The default, spaced
  // writer is a row of its own.
  const pacedArgs = ['--repository', repositoryPath, '--restore-point', 'bench-rp'];
  const writerArgs = [...pacedArgs, '--puts-per-second', '0'];
  const latencyMs = Number(values['latency-ms']);
  const sinkRuns: [string, number, number][] = [
    [`sink, +${latencyMs} ms per request`, latencyMs, Number(values['latency-in-flight'])],
  ];
  if (values['instant-sink']) sinkRuns.push(['sink, instant', 0, Number(values['in-flight'])]);
  const vsOpenssl = (perGiB: number) => `${fixed(perGiB, 3)} (${fixed(perGiB / opensslCpuPerGiB)}x openssl)`;
  const describe = (r: ScenarioResult) =>
    `${fixed(mibPerSecond(r), 0)} MiB/s, peak RSS ${fixed(r.maxRssBytes / MIB, 0)} MiB, CPU s/GiB: ` +
    `steady ${vsOpenssl(steadyCpuPerGiB(r))}, write ${vsOpenssl(cpuPerGiB(r))}, ` +
    `whole process ${vsOpenssl(processCpuPerGiB(r))}`;
  const WARM = 'EbsDirectWriter, second write of its process (not a target)';
  const clients: [string, string[], (readonly string[])?][] = [
    ['plain node:http loop', ['--mode', 'plain-http', '--size-gib', String(sizeGiB)]],
    ['SDK minimal loop', ['--mode', 'minimal-loop', '--size-gib', String(sizeGiB)]],
    ['EbsDirectWriter', writerArgs],
    // What a long-lived worker pays once the JIT has compiled the writer: the first write of a process
    // carries the JIT's warm-up, which over 2 GiB is a large part of its CPU.
    [WARM, [...writerArgs, '--warm-up']],
    ["EbsDirectWriter as configured by default (spaced under AWS's quota; not a target)", pacedArgs],
  ];
  // What the worker's node flags save, if it has any, side by side in the same run.
  if (SNAPSHOT_WORKER_NODE_FLAGS.length > 0) {
    clients.push(['EbsDirectWriter, node without the worker flags (not a target)', writerArgs, []]);
  }
  for (const [label, latency, inFlight] of sinkRuns) {
    const sink = await startSink(latency);
    const env = { AWS_ACCESS_KEY_ID: 'bench', AWS_SECRET_ACCESS_KEY: 'bench' };
    const results = new Map<string, ScenarioResult>();
    for (const [client, args, nodeFlags] of clients) {
      log(`${label}, ${inFlight} in flight: ${client} ...`);
      const clientArgs = [...args, '--endpoint', sink.endpoint, '--in-flight', String(inFlight)];
      results.set(client, await scenario(clientArgs, env, nodeFlags));
    }
    const stats = (await sink.stop()) as { blocks: number; bytes: number };
    // Every client writes the volume once; the warm writer twice.
    const expected = (clients.length + 1) * sizeGiB * BLOCKS_PER_GIB;
    if (stats.blocks !== expected) {
      throw new Error(`${label}: the sink received ${stats.blocks} blocks, expected ${expected}`);
    }
    rows.push(`${label}, ${inFlight} in flight (compiled, plain node):`);
    for (const [client, result] of results) rows.push(`  ${client}: ${describe(result)}`);
    const writer = results.get('EbsDirectWriter')!;
    const plain = results.get('plain node:http loop')!;
    rows.push(`  writer / plain loop: ${fixed(mibPerSecond(writer) / mibPerSecond(plain))}x MiB/s`);
    if (latency !== latencyMs) continue;
    targets.push({
      name: `writer >= 0.9x the plain node:http loop's MiB/s (${label}, ${inFlight} in flight)`,
      value: `${fixed(mibPerSecond(writer) / mibPerSecond(plain))}x (${fixed(mibPerSecond(writer), 0)} vs ${fixed(mibPerSecond(plain), 0)} MiB/s)`,
      ok: mibPerSecond(writer) >= 0.9 * mibPerSecond(plain),
    });
    // Judged on the steady figure: the target is the cost per GiB written, and a restore writes volumes of
    // 8 to 16,384 GiB, over which the write's fixed cost (the SDK's first call, the block list check,
    // CompleteSnapshot, the JIT warming up) spreads to nothing; over this run's 2 GiB it does not. The
    // write and whole-process figures are printed beside it.
    targets.push({
      name: 'writer CPU per GiB <= 1.5x openssl dgst -sha256 (steady: first block to last)',
      value:
        `${fixed(steadyCpuPerGiB(writer) / opensslCpuPerGiB)}x (${fixed(steadyCpuPerGiB(writer), 3)} vs ` +
        `${fixed(opensslCpuPerGiB, 3)} s/GiB; the whole write ${fixed(cpuPerGiB(writer) / opensslCpuPerGiB)}x, ` +
        `the whole process ${fixed(processCpuPerGiB(writer) / opensslCpuPerGiB)}x)`,
      ok: steadyCpuPerGiB(writer) <= 1.5 * opensslCpuPerGiB,
    });
    targets.push({
      name: `writer peak RSS <= 160 MiB at ${inFlight} in flight (compiled)`,
      value: `${fixed(writer.maxRssBytes / MIB, 0)} MiB`,
      ok: writer.maxRssBytes <= 160 * MIB,
    });
  }

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
        await generate(dir, 'bench-rp-emulator', emulatorSizeGiB, zeroEvery);
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
    `\nData path benchmark: ${sizeGiB} GiB volume, ${zeroEvery > 0 ? Math.floor((sizeGiB * BLOCKS_PER_GIB) / zeroEvery) : 0} zero blocks\n`,
  );
  for (const row of rows) console.log(`  ${row}`);
  console.log('\nTargets:');
  for (const t of targets) console.log(`  [${t.ok ? 'met' : 'MISSED'}] ${t.name}: ${t.value}`);
} finally {
  await rm(dir, { recursive: true, force: true });
}
