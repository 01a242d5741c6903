/**
 * Local AWS emulator benchmark (issue 9). One command:
 *   pnpm bench:emulator [--compare-ref main] [--size-gib 1] [--snapshots 2] [--writers 32]
 *
 * For each emulator (this checkout's, and with --compare-ref the one of that git revision, side by side
 * in the same run, one after the other): start it, then into `--snapshots` encrypted EBS direct snapshots
 * of `--size-gib` GiB each write every block (1 block in 4 random and distinct, the rest zeros) with
 * `--writers` PutSnapshotBlock calls in flight, complete them, read every listed block back with
 * GetSnapshotBlock (same concurrency, checksums checked), delete the snapshots (EC2 DeleteSnapshot).
 * Prints MiB/s of both operations, the emulator's CPU per block and its RSS before, after writing, after
 * reading, after deleting, and at its peak, then the targets as met/MISSED.
 * The block calls come from a raw keep-alive HTTP client (raw-client.ts: the SDK's headers without the
 * SDK's CPU, so the emulator is what is measured), or with `--client sdk` from the AWS SDK as the
 * product configures it (createAwsClients, withUnsignedPayload).
 */
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import {
  CompleteSnapshotCommand,
  GetSnapshotBlockCommand,
  ListSnapshotBlocksCommand,
  PutSnapshotBlockCommand,
  StartSnapshotCommand,
} from '@aws-sdk/client-ebs';
import { DeleteSnapshotCommand, DescribeSnapshotsCommand } from '@aws-sdk/client-ec2';
import { CreateKeyCommand } from '@aws-sdk/client-kms';
import { createAwsClients } from '@ec2-restore/aws-clients';
import { BLOCK_SIZE, BLOCKS_PER_GIB, runPool } from '@ec2-restore/backup-repository';
import {
  credentialsForAccount,
  type RunningEmulator,
  randomAccountId,
  startEmulator,
} from '@ec2-restore/local-aws';
import { withUnsignedPayload } from '@ec2-restore/snapshot-writers';
import { RawEbsClient } from './raw-client.ts';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
// This measures the emulator's own speed: AWS's limit of 1,000 PutSnapshotBlock requests per second per
// snapshot, which the emulator enforces by default, would cap what it can show. Set the variable to
// measure with the limit on.
process.env.EC2RESTORE_EMULATOR_EBS_PUT_RATE ??= '0';
// Likewise the moment after StartSnapshot in which a new snapshot "does not exist" (eventual consistency,
// on by default): the raw client writes at once and does not retry.
process.env.EC2RESTORE_EMULATOR_CONSISTENCY_MS ??= '0';
const MIB = 1024 * 1024;
const repoRoot = fileURLToPath(new URL('../..', import.meta.url));

const { values } = parseArgs({
  options: {
    'compare-ref': { type: 'string' },
    'size-gib': { type: 'string', default: '1' },
    snapshots: { type: 'string', default: '2' },
    writers: { type: 'string', default: '32' },
    'random-every': { type: 'string', default: '4' },
    client: { type: 'string', default: 'raw' },
  },
});
const sizeGiB = Number(values['size-gib']);
const snapshotCount = Number(values.snapshots);
const writers = Number(values.writers);
const randomEvery = Number(values['random-every']);
const clientKind = values.client;
if (clientKind !== 'raw' && clientKind !== 'sdk') throw new Error('--client must be raw or sdk');
const blocksPerSnapshot = sizeGiB * BLOCKS_PER_GIB;

const ZERO = Buffer.alloc(BLOCK_SIZE);
const ZERO_CHECKSUM = sha256(ZERO);

function sha256(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('base64');
}

function log(line: string): void {
  process.stderr.write(`${line}\n`);
}

/** Which blocks are random: a fixed pseudo-random choice of 1 in `randomEvery`, the same for every run. */
function isRandomBlock(snapshot: number, index: number): boolean {
  const h = createHash('sha256').update(`${snapshot}:${index}`).digest();
  return h.readUInt32BE(0) % randomEvery === 0;
}

/** Distinct random content per block: a shared random buffer with the block's own id in front. */
const RANDOM_BASE = randomBytes(BLOCK_SIZE);
function randomBlock(snapshot: number, index: number): Buffer {
  const block = Buffer.from(RANDOM_BASE);
  block.write(`block ${snapshot}:${index}:${process.pid}`, 0);
  return block;
}

/** utime + stime of a process, in seconds (/proc/<pid>/stat fields 14 and 15). */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  return ticks / 100;
}

function cpuMicros(usage: NodeJS.CpuUsage): number {
  return usage.user + usage.system;
}

/** MiB/s one core could serve at `ms` CPU per 512 KiB block (the emulator is one Python process: one GIL). */
function ceiling(ms: number): string {
  return `${(1000 / ms / 2).toFixed(0)} MiB/s`;
}

function mib(bytes: number | undefined): string {
  return bytes === undefined ? '?' : `${(bytes / MIB).toFixed(0)} MiB`;
}

interface Figures {
  label: string;
  putMiBs: number;
  getMiBs: number;
  putCpuMsPerBlock: number;
  getCpuMsPerBlock: number;
  putClientCpuMsPerBlock: number;
  getClientCpuMsPerBlock: number;
  rssStart: number | undefined;
  rssAfterPut: number | undefined;
  rssAfterGet: number | undefined;
  rssAfterDelete: number | undefined;
  peak: number | undefined;
  bytesWritten: number;
}

async function measure(label: string, emulator: RunningEmulator): Promise<Figures> {
  const account = randomAccountId();
  const aws = createAwsClients({
    region: 'eu-west-1',
    endpoint: emulator.endpoint,
    credentials: credentialsForAccount(account),
    maxSockets: Math.max(256, writers),
  });
  const raw = new RawEbsClient(
    emulator.endpoint,
    credentialsForAccount(account).accessKeyId,
    'eu-west-1',
    writers,
  );
  try {
    const key = await aws.kms.send(new CreateKeyCommand({ Description: 'bench/emulator' }));
    const kmsKeyArn = key.KeyMetadata!.Arn!;
    // One round trip of each kind first, so start-up costs (moto's lazy imports) are not in the figures.
    const warm = await aws.ebs.send(
      new StartSnapshotCommand({ VolumeSize: 1, Encrypted: true, KmsKeyArn: kmsKeyArn }),
    );
    await aws.ebs.send(
      withUnsignedPayload(
        new PutSnapshotBlockCommand({
          SnapshotId: warm.SnapshotId!,
          BlockIndex: 0,
          BlockData: ZERO,
          DataLength: BLOCK_SIZE,
          Checksum: ZERO_CHECKSUM,
          ChecksumAlgorithm: 'SHA256',
        }),
      ),
    );
    await aws.ec2.send(new DeleteSnapshotCommand({ SnapshotId: warm.SnapshotId! })).catch(() => undefined);
    const rssStart = emulator.memory()?.rssBytes;

    const snapshotIds: string[] = [];
    for (let s = 0; s < snapshotCount; s++) {
      const started = await aws.ebs.send(
        new StartSnapshotCommand({ VolumeSize: sizeGiB, Encrypted: true, KmsKeyArn: kmsKeyArn }),
      );
      snapshotIds.push(started.SnapshotId!);
    }
    const checksums = snapshotIds.map(() => new Map<number, string>());

    log(`${label}: writing ${snapshotCount} x ${sizeGiB} GiB, ${writers} writers ...`);
    let bytesWritten = 0;
    let cpu = cpuSeconds(emulator.pid);
    let clientCpu = process.cpuUsage();
    let started = process.hrtime.bigint();
    await runPool(
      (function* () {
        for (let s = 0; s < snapshotCount; s++)
          for (let i = 0; i < blocksPerSnapshot; i++) yield [s, i] as const;
      })(),
      writers,
      async ([s, index]) => {
        const data = isRandomBlock(s, index) ? randomBlock(s, index) : ZERO;
        const checksum = data === ZERO ? ZERO_CHECKSUM : sha256(data);
        checksums[s]!.set(index, checksum);
        if (clientKind === 'raw') await raw.putSnapshotBlock(snapshotIds[s]!, index, data, checksum);
        else
          await aws.ebs.send(
            withUnsignedPayload(
              new PutSnapshotBlockCommand({
                SnapshotId: snapshotIds[s]!,
                BlockIndex: index,
                BlockData: data,
                DataLength: BLOCK_SIZE,
                Checksum: checksum,
                ChecksumAlgorithm: 'SHA256',
              }),
            ),
          );
        bytesWritten += BLOCK_SIZE;
      },
    );
    const putSeconds = Number(process.hrtime.bigint() - started) / 1e9;
    const putCpu = cpuSeconds(emulator.pid) - cpu;
    const putClientCpu = cpuMicros(process.cpuUsage(clientCpu)) / 1e6;
    const blocks = snapshotCount * blocksPerSnapshot;
    for (const id of snapshotIds) {
      await aws.ebs.send(
        new CompleteSnapshotCommand({ SnapshotId: id, ChangedBlocksCount: blocksPerSnapshot }),
      );
    }
    // A snapshot is `pending` for a moment after CompleteSnapshot, as on AWS (bounded wait: 30 s).
    let states = new Set<string | undefined>();
    for (const deadline = Date.now() + 30_000; ; ) {
      const described = await aws.ec2.send(new DescribeSnapshotsCommand({ SnapshotIds: snapshotIds }));
      states = new Set(described.Snapshots!.map((s) => s.State));
      if ((states.size === 1 && states.has('completed')) || states.has('error') || Date.now() > deadline)
        break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    if (states.size !== 1 || !states.has('completed')) {
      throw new Error(`${label}: snapshots should be completed, are ${[...states].join(', ')}`);
    }
    const rssAfterPut = emulator.memory()?.rssBytes;

    log(`${label}: reading every block back, ${writers} readers ...`);
    const listed: { s: number; index: number; token: string }[] = [];
    for (let s = 0; s < snapshotCount; s++) {
      let token: string | undefined;
      do {
        const page = await aws.ebs.send(
          new ListSnapshotBlocksCommand({
            SnapshotId: snapshotIds[s]!,
            NextToken: token,
            MaxResults: 10_000,
          }),
        );
        for (const b of page.Blocks ?? []) listed.push({ s, index: b.BlockIndex!, token: b.BlockToken! });
        token = page.NextToken;
      } while (token);
    }
    if (listed.length !== blocks)
      throw new Error(`${label}: listed ${listed.length} blocks, wrote ${blocks}`);
    cpu = cpuSeconds(emulator.pid);
    clientCpu = process.cpuUsage();
    started = process.hrtime.bigint();
    let bytesRead = 0;
    await runPool(listed, writers, async ({ s, index, token }) => {
      let data: Uint8Array;
      let checksum: string | undefined;
      if (clientKind === 'raw') {
        ({ data, checksum } = await raw.getSnapshotBlock(snapshotIds[s]!, index, token));
      } else {
        const out = await aws.ebs.send(
          new GetSnapshotBlockCommand({ SnapshotId: snapshotIds[s]!, BlockIndex: index, BlockToken: token }),
        );
        data = await out.BlockData!.transformToByteArray();
        checksum = out.Checksum;
      }
      const expected = checksums[s]!.get(index);
      if (checksum !== expected || sha256(data) !== expected) {
        throw new Error(`${label}: block ${index} of snapshot ${s} came back different`);
      }
      bytesRead += data.length;
    });
    const getSeconds = Number(process.hrtime.bigint() - started) / 1e9;
    const getCpu = cpuSeconds(emulator.pid) - cpu;
    const getClientCpu = cpuMicros(process.cpuUsage(clientCpu)) / 1e6;
    const rssAfterGet = emulator.memory()?.rssBytes;

    for (const id of snapshotIds) await aws.ec2.send(new DeleteSnapshotCommand({ SnapshotId: id }));
    const rssAfterDelete = emulator.memory()?.rssBytes;
    return {
      label,
      putMiBs: bytesWritten / MIB / putSeconds,
      getMiBs: bytesRead / MIB / getSeconds,
      putCpuMsPerBlock: (putCpu * 1000) / blocks,
      getCpuMsPerBlock: (getCpu * 1000) / blocks,
      putClientCpuMsPerBlock: (putClientCpu * 1000) / blocks,
      getClientCpuMsPerBlock: (getClientCpu * 1000) / blocks,
      rssStart,
      rssAfterPut,
      rssAfterGet,
      rssAfterDelete,
      peak: emulator.memory()?.peakRssBytes,
      bytesWritten,
    };
  } finally {
    aws.destroy();
    raw.destroy();
  }
}

async function run(label: string, emulatorDir?: string): Promise<Figures> {
  log(`${label}: starting the emulator ...`);
  const emulator = await startEmulator(emulatorDir ? { emulatorDir } : {});
  try {
    return await measure(label, emulator);
  } finally {
    await emulator.stop();
  }
}

const results: Figures[] = [];
let compareDir: string | undefined;
try {
  if (values['compare-ref']) {
    const ref = values['compare-ref'];
    const commit = execFileSync('git', ['rev-parse', '--short', ref], {
      cwd: repoRoot,
      encoding: 'utf8',
    }).trim();
    compareDir = mkdtempSync(join(tmpdir(), 'bench-emulator-'));
    // That revision's emulator package only (the client side is this checkout's, the same for both).
    execFileSync('bash', [
      '-c',
      'git -C "$1" archive "$2" packages/local-aws/emulator | tar -x -C "$3"',
      'bash',
      repoRoot,
      commit,
      compareDir,
    ]);
    results.push(await run(`${ref} (${commit})`, join(compareDir, 'packages/local-aws/emulator')));
  }
  results.push(await run('this checkout'));
} finally {
  if (compareDir) rmSync(compareDir, { recursive: true, force: true });
}

const gib = (snapshotCount * sizeGiB).toFixed(0);
console.log(
  `\nEmulator benchmark: ${snapshotCount} x ${sizeGiB} GiB EBS direct snapshots, 1 block in ${randomEvery} random, ` +
    `the rest zeros, ${writers} writers/readers (${clientKind === 'raw' ? 'raw HTTP client' : 'AWS SDK'}, keep-alive); load average ${loadAverage()}`,
);
for (const r of results) {
  const growth =
    r.rssAfterPut !== undefined && r.rssStart !== undefined ? r.rssAfterPut - r.rssStart : undefined;
  console.log(`\n${r.label}`);
  console.log(
    `  PutSnapshotBlock: ${r.putMiBs.toFixed(0)} MiB/s; CPU per block: emulator ${r.putCpuMsPerBlock.toFixed(2)} ms ` +
      `(one core's worth: ${ceiling(r.putCpuMsPerBlock)}), client ${r.putClientCpuMsPerBlock.toFixed(2)} ms`,
  );
  console.log(
    `  GetSnapshotBlock: ${r.getMiBs.toFixed(0)} MiB/s; CPU per block: emulator ${r.getCpuMsPerBlock.toFixed(2)} ms ` +
      `(one core's worth: ${ceiling(r.getCpuMsPerBlock)}), client ${r.getClientCpuMsPerBlock.toFixed(2)} ms`,
  );
  console.log(
    `  RSS: start ${mib(r.rssStart)}, after writing ${gib} GiB ${mib(r.rssAfterPut)} (growth ${mib(growth)}), ` +
      `after reading ${mib(r.rssAfterGet)}, after DeleteSnapshot ${mib(r.rssAfterDelete)}, peak ${mib(r.peak)}`,
  );
}
if (results.length === 2) {
  const [before, after] = results as [Figures, Figures];
  console.log(
    `\nratios (this checkout / ${before.label}): PutSnapshotBlock ${(after.putMiBs / before.putMiBs).toFixed(1)}x MiB/s, ` +
      `GetSnapshotBlock ${(after.getMiBs / before.getMiBs).toFixed(1)}x MiB/s, ` +
      `CPU per block written ${(before.putCpuMsPerBlock / after.putCpuMsPerBlock).toFixed(1)}x less`,
  );
}
const mine = results.at(-1)!;
const growth = (mine.rssAfterPut ?? Number.NaN) - (mine.rssStart ?? Number.NaN);
const perTwoGiB = (growth / mine.bytesWritten) * 2 * 1024 * MIB;
console.log('\ntargets (this checkout):');
console.log(
  `  PutSnapshotBlock >= 300 MiB/s: ${mine.putMiBs.toFixed(0)} MiB/s ${mine.putMiBs >= 300 ? 'met' : 'MISSED'}`,
);
console.log(
  `  RSS growth <= 128 MiB per 2 GiB written: ${mib(perTwoGiB)} ${perTwoGiB <= 128 * MIB ? 'met' : 'MISSED'}`,
);

function loadAverage(): string {
  try {
    return readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  } catch {
    return '?';
  }
}
