/**
 * A loopback HTTP proxy in front of the AWS emulator that records when each AWS call started and
 * ended and what it was (`EC2.CreateVolume`, `EBS.PutSnapshotBlock`, `KMS.CreateGrant`), so the
 * benchmark can say how much of a restore's wall time AWS took, measured outside the product.
 * Bodies stream through unchanged; only the small bodies of query-protocol calls are read first
 * (for their Action).
 */
import { Agent, createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { EMULATOR_ROOT_ACCESS_KEY_PREFIX } from '@ec2-restore/local-aws';

export interface AwsCallRecord {
  operation: string;
  start: number;
  end: number;
  status: number;
  /** AWS's error code of a call that failed (`InvalidSnapshot.NotFound`). */
  code?: string;
  /** The account the call was made in (see TimingProxy.calls), when the proxy could tell. */
  account?: string;
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
  /**
   * Every call, with its account: an emulator account's root key names it, and an assumed role's
   * session key is the one an `STS.AssumeRole` answer through this proxy gave for that account.
   */
  calls: AwsCallRecord[];
  close(): Promise<void>;
}

/** The service of a SigV4-signed request, from its credential scope (`.../eu-west-1/ec2/aws4_request`). */
function serviceOf(authorization: string | undefined): string {
  return /\/[^/]+\/([^/]+)\/aws4_request/.exec(authorization ?? '')?.[1]?.toUpperCase() ?? 'AWS';
}

/** The access key id a SigV4-signed request was signed with (`Credential=AKID/...`). */
function accessKeyOf(authorization: string | undefined): string | undefined {
  return /Credential=([^/]+)\//.exec(authorization ?? '')?.[1];
}

/** The session key and its account in an AssumeRole answer (`arn:aws:sts::ACCOUNT:assumed-role/...`). */
function assumedRoleKey(body: string): { accessKeyId: string; account: string } | undefined {
  const accessKeyId = /<AccessKeyId>([^<]+)<\/AccessKeyId>/.exec(body)?.[1];
  const account = /<Arn>arn:aws:sts::(\d{12}):assumed-role\//.exec(body)?.[1];
  return accessKeyId && account ? { accessKeyId, account } : undefined;
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
  const accounts = new Map<string, string>();
  const accountOf = (accessKey: string | undefined): string | undefined => {
    if (accessKey?.startsWith(EMULATOR_ROOT_ACCESS_KEY_PREFIX))
      return accessKey.slice(EMULATOR_ROOT_ACCESS_KEY_PREFIX.length);
    return accessKey ? accounts.get(accessKey) : undefined;
  };
  const server = createServer((req, res) => {
    const start = Date.now();
    const accessKey = accessKeyOf(req.headers.authorization);
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
          // An error's body and an AssumeRole answer are small: kept to name the code, or the session
          // key's account.
          const kept: Buffer[] = [];
          if (status >= 400 || operation === 'STS.AssumeRole')
            answer.on('data', (chunk: Buffer) => kept.push(chunk));
          answer.pipe(res);
          answer.on('end', () => {
            const body = Buffer.concat(kept).toString('utf8');
            const code = status >= 400 ? errorCodeOf(body) : undefined;
            const session = status < 400 && operation === 'STS.AssumeRole' ? assumedRoleKey(body) : undefined;
            if (session) accounts.set(session.accessKeyId, session.account);
            const account = accountOf(accessKey);
            calls.push({
              operation,
              start,
              end: Date.now(),
              status,
              ...(code ? { code } : {}),
              ...(account ? { account } : {}),
            });
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
