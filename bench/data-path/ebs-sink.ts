/**
 * A loopback HTTP server that answers the EBS direct write APIs (StartSnapshot, PutSnapshotBlock,
 * CompleteSnapshot) and EC2 DescribeSnapshots at once, or after a fixed added latency, so the benchmark
 * measures the writer rather than a backend. It drains every body and counts blocks and bytes, so a run
 * that skipped blocks shows up; it does not hash (its CPU would compete with the writer's on 2 cores).
 *
 * Run alone: node --import tsx bench/data-path/ebs-sink.ts [--latency-ms 100]  (prints `port=N`).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';

export interface EbsSinkStats {
  snapshots: number;
  blocks: number;
  bytes: number;
  completed: number;
}

export interface RunningEbsSink {
  endpoint: string;
  stats: EbsSinkStats;
  close(): Promise<void>;
}

interface SinkSnapshot {
  volumeSize: number;
  kmsKeyArn: string;
  state: 'pending' | 'completed';
}

function readBody(req: IncomingMessage): Promise<Buffer | number> {
  return new Promise((resolve, reject) => {
    const keep = req.method !== 'PUT';
    const chunks: Buffer[] = [];
    let length = 0;
    req.on('data', (chunk: Buffer) => {
      length += chunk.length;
      if (keep) chunks.push(chunk);
    });
    req.on('end', () => resolve(keep ? Buffer.concat(chunks) : length));
    req.on('error', reject);
  });
}

export function startEbsSink(options: { latencyMs?: number; port?: number } = {}): Promise<RunningEbsSink> {
  const latencyMs = options.latencyMs ?? 0;
  const stats: EbsSinkStats = { snapshots: 0, blocks: 0, bytes: 0, completed: 0 };
  const snapshots = new Map<string, SinkSnapshot>();

  const answer = (
    res: ServerResponse,
    status: number,
    body: string,
    headers: Record<string, string> = {},
  ) => {
    const send = () => {
      res.writeHead(status, { 'content-length': Buffer.byteLength(body), ...headers });
      res.end(body);
    };
    if (latencyMs > 0) setTimeout(send, latencyMs);
    else send();
  };

  const server: Server = createServer(async (req, res) => {
    const body = await readBody(req);
    const url = req.url ?? '/';
    if (req.method === 'PUT' && /^\/snapshots\/[^/]+\/blocks\/\d+/.test(url)) {
      stats.blocks += 1;
      stats.bytes += body as number;
      return answer(res, 201, '', {
        'x-amz-checksum': String(req.headers['x-amz-checksum'] ?? ''),
        'x-amz-checksum-algorithm': 'SHA256',
      });
    }
    if (req.method === 'POST' && url.startsWith('/snapshots/completion/')) {
      const id = decodeURIComponent(url.slice('/snapshots/completion/'.length).split('?')[0]!);
      const snapshot = snapshots.get(id);
      if (snapshot) snapshot.state = 'completed';
      stats.completed += 1;
      return answer(res, 202, JSON.stringify({ Status: 'completed' }), {
        'content-type': 'application/json',
      });
    }
    if (req.method === 'POST' && url.startsWith('/snapshots')) {
      const input = JSON.parse((body as Buffer).toString('utf8') || '{}') as {
        VolumeSize?: number;
        KmsKeyArn?: string;
      };
      const id = `snap-${(++stats.snapshots).toString(16).padStart(17, '0')}`;
      snapshots.set(id, {
        volumeSize: input.VolumeSize ?? 1,
        kmsKeyArn: input.KmsKeyArn ?? '',
        state: 'pending',
      });
      return answer(
        res,
        201,
        JSON.stringify({
          SnapshotId: id,
          OwnerId: '111111111111',
          Status: 'pending',
          VolumeSize: input.VolumeSize,
          BlockSize: 524288,
          KmsKeyArn: input.KmsKeyArn,
          StartTime: Date.now() / 1000,
        }),
        { 'content-type': 'application/json' },
      );
    }
    if (req.method === 'POST' && url === '/') {
      // EC2 query protocol: only DescribeSnapshots is served.
      const form = new URLSearchParams((body as Buffer).toString('utf8'));
      const id = form.get('SnapshotId.1') ?? '';
      const snapshot = snapshots.get(id);
      const item = snapshot
        ? `<item><snapshotId>${id}</snapshotId><status>${snapshot.state}</status><volumeSize>${snapshot.volumeSize}</volumeSize><encrypted>true</encrypted><kmsKeyId>${snapshot.kmsKeyArn}</kmsKeyId></item>`
        : '';
      const xml = `<?xml version="1.0" encoding="UTF-8"?><DescribeSnapshotsResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>sink</requestId><snapshotSet>${item}</snapshotSet></DescribeSnapshotsResponse>`;
      return answer(res, 200, xml, { 'content-type': 'text/xml' });
    }
    answer(res, 404, JSON.stringify({ message: `sink does not serve ${req.method} ${url}` }));
  });
  server.keepAliveTimeout = 60_000;

  return new Promise((resolve) => {
    server.listen(options.port ?? 0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      resolve({
        endpoint: `http://127.0.0.1:${port}`,
        stats,
        close: () =>
          new Promise((done) => {
            server.closeAllConnections();
            server.close(() => done());
          }),
      });
    });
  });
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({ options: { 'latency-ms': { type: 'string', default: '0' } } });
  const sink = await startEbsSink({ latencyMs: Number(values['latency-ms']) });
  process.stdout.write(`port=${new URL(sink.endpoint).port}\n`);
  // Ends with its parent: the benchmark keeps stdin open and closes it (or dies).
  process.stdin.resume();
  process.stdin.on('end', () => {
    process.stdout.write(`${JSON.stringify(sink.stats)}\n`);
    void sink.close().then(() => process.exit(0));
  });
}
