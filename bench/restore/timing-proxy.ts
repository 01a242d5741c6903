/**
 * A loopback HTTP proxy in front of the AWS emulator that records when each AWS call started and
 * ended and what it was (`EC2.CreateVolume`, `EBS.PutSnapshotBlock`, `KMS.CreateGrant`), so the
 * benchmark can say how much of a restore's wall time AWS took, measured outside the product.
 * Bodies stream through unchanged; only the small bodies of query-protocol calls are read first
 * (for their Action).
 */
import { Agent, createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface AwsCallRecord {
  operation: string;
  start: number;
  end: number;
  status: number;
  /** AWS's error code of a call that failed (`InvalidSnapshot.NotFound`). */
  code?: string;
}

/** The error code in an AWS error body: query/EC2 XML `<Code>`, JSON `__type` or `code`. */
function errorCodeOf(body: string): string | undefined {
  const code =
    /<Code>([^<]+)<\/Code>/.exec(body)?.[1] ??
    /"__type"\s*:\s*"([^"]+)"/.exec(body)?.[1] ??
    /"code"\s*:\s*"([^"]+)"/i.exec(body)?.[1];
  return code?.split('#').pop();
}

export interface TimingProxy {
  endpoint: string;
  calls: AwsCallRecord[];
  close(): Promise<void>;
}

/** The service of a SigV4-signed request, from its credential scope (`.../eu-west-1/ec2/aws4_request`). */
function serviceOf(authorization: string | undefined): string {
  return /\/[^/]+\/([^/]+)\/aws4_request/.exec(authorization ?? '')?.[1]?.toUpperCase() ?? 'AWS';
}

function restOperation(method: string, path: string): string | undefined {
  if (method === 'PUT' && /^\/snapshots\/[^/]+\/blocks\/\d+/.test(path)) return 'EBS.PutSnapshotBlock';
  if (method === 'GET' && /^\/snapshots\/[^/]+\/blocks\/\d+/.test(path)) return 'EBS.GetSnapshotBlock';
  if (method === 'GET' && /^\/snapshots\/[^/]+\/blocks/.test(path)) return 'EBS.ListSnapshotBlocks';
  if (method === 'POST' && path.startsWith('/snapshots/completion/')) return 'EBS.CompleteSnapshot';
  if (method === 'POST' && path.startsWith('/snapshots')) return 'EBS.StartSnapshot';
  return undefined;
}

export async function startTimingProxy(target: string): Promise<TimingProxy> {
  const upstream = new URL(target);
  const agent = new Agent({ keepAlive: true, maxSockets: 512 });
  const calls: AwsCallRecord[] = [];
  const server = createServer((req, res) => {
    const start = Date.now();
    const path = req.url ?? '/';
    const known = restOperation(req.method ?? '', path);
    const target = req.headers['x-amz-target'];
    const forward = (body: Buffer | undefined, operation: string) => {
      const out = request(
        {
          host: upstream.hostname,
          port: upstream.port,
          method: req.method,
          path,
          headers: req.headers,
          agent,
        },
        (answer) => {
          const status = answer.statusCode ?? 0;
          res.writeHead(status || 502, answer.headers);
          // An error's body is small: kept to name its code.
          const errorBody: Buffer[] = [];
          if (status >= 400) answer.on('data', (chunk: Buffer) => errorBody.push(chunk));
          answer.pipe(res);
          answer.on('end', () => {
            const code = status >= 400 ? errorCodeOf(Buffer.concat(errorBody).toString('utf8')) : undefined;
            calls.push({ operation, start, end: Date.now(), status, ...(code ? { code } : {}) });
          });
        },
      );
      out.on('error', (error) => {
        res.writeHead(502);
        res.end(String(error));
      });
      if (body) out.end(body);
      else req.pipe(out);
    };
    if (known) return forward(undefined, known);
    if (typeof target === 'string') {
      const service = target.startsWith('TrentService') ? 'KMS' : serviceOf(req.headers.authorization);
      return forward(undefined, `${service}.${target.split('.').pop()}`);
    }
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const action =
        new URLSearchParams(body.toString('utf8')).get('Action') ??
        new URL(path, 'http://x').searchParams.get('Action') ??
        `${req.method} ${path.split('?')[0]}`;
      forward(body, `${serviceOf(req.headers.authorization)}.${action}`);
    });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((ready) => server.listen(0, '127.0.0.1', ready));
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    calls,
    close: () =>
      new Promise<void>((done) => {
        agent.destroy();
        server.closeAllConnections();
        server.close(() => done());
      }),
  };
}
