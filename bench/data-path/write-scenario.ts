/**
 * One measured write, run in its own process so its CPU time and peak RSS are its own:
 *   --mode writer        the product's EbsDirectWriter restoring a volume from the repository
 *   --mode minimal-loop  the least an SDK client can do: StartSnapshot, PutSnapshotBlock of one pre-made
 *                        block for every index with N in flight, CompleteSnapshot
 *   --mode plain-http    the same PUTs from a plain node:http loop (keep-alive agent, N sockets, no SDK, no
 *                        signing, no reading or hashing): what this machine's HTTP stack allows at best
 * The benchmark runs it compiled (esbuild, as production runs the workers), with plain node.
 * Prints one JSON line: { seconds, cpuSeconds, processCpuSeconds, steady, maxRssBytes, bytes, blocks }:
 *   seconds, cpuSeconds  the write, from before StartSnapshot until the client returns (module loading and
 *                        client construction excluded; the SDK's first call, the block list check,
 *                        CompleteSnapshot and the completion poll included)
 *   processCpuSeconds    the whole process, from its start (node start-up and module loading included)
 *   steady               from the first block written to the last: the per-block cost without any fixed
 *                        cost ({ seconds, cpuSeconds, bytes })
 */
import { createHash, randomBytes } from 'node:crypto';
import { Agent, request } from 'node:http';
import { parseArgs } from 'node:util';
import { CompleteSnapshotCommand, PutSnapshotBlockCommand, StartSnapshotCommand } from '@aws-sdk/client-ebs';
import { createAwsClients } from '@ec2-restore/aws-clients';
import {
  type BackupRepository,
  BLOCK_SIZE,
  BLOCKS_PER_GIB,
  openBackupRepository,
  runPool,
} from '@ec2-restore/backup-repository';
import { EbsDirectWriter, withUnsignedPayload } from '@ec2-restore/snapshot-writers';

const { values } = parseArgs({
  options: {
    mode: { type: 'string', default: 'writer' },
    repository: { type: 'string' },
    'restore-point': { type: 'string' },
    device: { type: 'string', default: '/dev/xvda' },
    'size-gib': { type: 'string' },
    endpoint: { type: 'string' },
    'in-flight': { type: 'string', default: '64' },
    'kms-key-arn': { type: 'string', default: 'arn:aws:kms:eu-west-1:111111111111:key/bench' },
    // Writer only: write the volume once before the measured write, as a long-lived worker process has
    // (its code compiled by the JIT); the measured write is the process's second.
    'warm-up': { type: 'boolean', default: false },
    // Writer only: its PutSnapshotBlock requests per second per snapshot (unset: the writer's default).
    'puts-per-second': { type: 'string' },
  },
});

const inFlight = Number(values['in-flight']);
const clients = createAwsClients({
  region: process.env.AWS_REGION ?? 'eu-west-1',
  ...(values.endpoint ? { endpoint: values.endpoint } : {}),
  maxSockets: Math.max(256, inFlight),
});

// The writer's volume, read before the measured part starts.
const repository = values.mode === 'writer' ? openBackupRepository(values.repository!) : undefined;
const volumeBytes = repository
  ? (await repository.openVolume(values['restore-point']!, values.device)).volume.blockCount * BLOCK_SIZE
  : 0;

function writerOf(repository: BackupRepository): EbsDirectWriter {
  return new EbsDirectWriter({
    repository,
    ebs: clients.ebs,
    ec2: clients.ec2,
    inFlight,
    completionPollMs: 200,
    ...(values['puts-per-second'] !== undefined ? { putsPerSecond: Number(values['puts-per-second']) } : {}),
  });
}
function writeVolume(writer: EbsDirectWriter, onProgress?: (bytes: number) => void) {
  return writer.writeVolume({
    restorePointId: values['restore-point']!,
    deviceName: values.device,
    target: { restoreId: `bench-${randomBytes(4).toString('hex')}`, kmsKeyArn: values['kms-key-arn'] },
    ...(onProgress ? { onProgress } : {}),
  });
}
if (repository && values['warm-up']) await writeVolume(writerOf(repository));

const cpuBefore = process.cpuUsage();
const started = process.hrtime.bigint();
let bytes = 0;
let blocks = 0;

/** CPU and time at the first and the last block written: the steady part of the write. */
const steadyMarks: { seconds: number; cpuSeconds: number; bytes: number }[] = [];
function blockWritten(bytesSoFar: number, totalBytes: number): void {
  if (steadyMarks.length === 0 || bytesSoFar === totalBytes) {
    const cpu = process.cpuUsage();
    steadyMarks.push({
      seconds: Number(process.hrtime.bigint()) / 1e9,
      cpuSeconds: (cpu.user + cpu.system) / 1e6,
      bytes: bytesSoFar,
    });
  }
}

if (values.mode === 'writer') {
  const result = await writeVolume(writerOf(repository!), (written) => blockWritten(written, volumeBytes));
  bytes = result.bytesWritten;
  blocks = result.blocksWritten;
} else if (values.mode === 'plain-http') {
  ({ bytes, blocks } = await plainHttpLoop(new URL(values.endpoint!), Number(values['size-gib']), inFlight));
} else {
  const sizeGiB = Number(values['size-gib']);
  const block = randomBytes(BLOCK_SIZE);
  const checksum = createHash('sha256').update(block).digest('base64');
  const start = await clients.ebs.send(
    new StartSnapshotCommand({ VolumeSize: sizeGiB, Encrypted: true, KmsKeyArn: values['kms-key-arn'] }),
  );
  const count = sizeGiB * BLOCKS_PER_GIB;
  await runPool(
    (function* () {
      for (let i = 0; i < count; i++) yield i;
    })(),
    inFlight,
    async (index) => {
      await clients.ebs.send(
        withUnsignedPayload(
          new PutSnapshotBlockCommand({
            SnapshotId: start.SnapshotId,
            BlockIndex: index,
            BlockData: block,
            DataLength: BLOCK_SIZE,
            Checksum: checksum,
            ChecksumAlgorithm: 'SHA256',
          }),
        ),
      );
      bytes += BLOCK_SIZE;
      blocks += 1;
      blockWritten(bytes, count * BLOCK_SIZE);
    },
  );
  await clients.ebs.send(
    new CompleteSnapshotCommand({ SnapshotId: start.SnapshotId, ChangedBlocksCount: count }),
  );
}

const seconds = Number(process.hrtime.bigint() - started) / 1e9;
const cpu = process.cpuUsage(cpuBefore);
const processCpu = process.cpuUsage();
clients.destroy();
const [first, last] = [steadyMarks[0], steadyMarks.at(-1)];
process.stdout.write(
  `${JSON.stringify({
    seconds,
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
    processCpuSeconds: (processCpu.user + processCpu.system) / 1e6,
    steady:
      first && last && last !== first
        ? {
            seconds: last.seconds - first.seconds,
            cpuSeconds: last.cpuSeconds - first.cpuSeconds,
            bytes: last.bytes - first.bytes,
          }
        : undefined,
    maxRssBytes: process.resourceUsage().maxRSS * 1024,
    bytes,
    blocks,
  })}\n`,
);

/** One HTTP call on `agent`; resolves with the drained body. */
function call(
  endpoint: URL,
  agent: Agent,
  method: string,
  path: string,
  headers: Record<string, string>,
  body: Buffer,
): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const req = request(endpoint, { method, path, headers, agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () =>
        (res.statusCode ?? 0) < 300
          ? resolve(Buffer.concat(chunks))
          : reject(new Error(`${method} ${path}: HTTP ${res.statusCode}`)),
      );
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function plainHttpLoop(
  endpoint: URL,
  sizeGiB: number,
  inFlight: number,
): Promise<{ bytes: number; blocks: number }> {
  const agent = new Agent({ keepAlive: true, maxSockets: inFlight, maxFreeSockets: inFlight });
  const json = { 'content-type': 'application/json' };
  const started = JSON.parse(
    (
      await call(
        endpoint,
        agent,
        'POST',
        '/snapshots',
        json,
        Buffer.from(JSON.stringify({ VolumeSize: sizeGiB })),
      )
    ).toString(),
  ) as { SnapshotId: string };
  const block = randomBytes(BLOCK_SIZE);
  const headers = {
    'content-type': 'application/octet-stream',
    'content-length': String(BLOCK_SIZE),
    'x-amz-data-length': String(BLOCK_SIZE),
    'x-amz-checksum': createHash('sha256').update(block).digest('base64'),
    'x-amz-checksum-algorithm': 'SHA256',
  };
  const count = sizeGiB * BLOCKS_PER_GIB;
  let done = 0;
  await runPool(
    (function* () {
      for (let i = 0; i < count; i++) yield i;
    })(),
    inFlight,
    async (index) => {
      await call(endpoint, agent, 'PUT', `/snapshots/${started.SnapshotId}/blocks/${index}`, headers, block);
      done += 1;
      blockWritten(done * BLOCK_SIZE, count * BLOCK_SIZE);
    },
  );
  await call(endpoint, agent, 'POST', `/snapshots/completion/${started.SnapshotId}`, json, Buffer.alloc(0));
  agent.destroy();
  return { bytes: done * BLOCK_SIZE, blocks: done };
}
