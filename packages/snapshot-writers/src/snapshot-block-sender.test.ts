import { createHash, createHmac } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { classifyAwsError, createAwsClients } from '@ec2-restore/aws-clients';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { decideRetry, isSnapshotNotFound } from './retry-policy.ts';
import { SnapshotBlockSender } from './snapshot-block-sender.ts';

const credentials = {
  accessKeyId: 'AKIDEXAMPLE',
  secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY',
};

interface Received {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/** A loopback server that records each request and answers with `answer`. */
async function server(
  answer: (req: Received) => { status: number; headers?: Record<string, string>; body?: string } | null,
): Promise<{ endpoint: string; received: Received[]; server: Server }> {
  const received: Received[] = [];
  const srv = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const r = { method: req.method!, url: req.url!, headers: req.headers, body: Buffer.concat(chunks) };
      received.push(r);
      const out = answer(r);
      if (out === null) return; // never answers: a stalled call
      res.writeHead(out.status, out.headers ?? {});
      res.end(out.body ?? '');
    });
  });
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  return { endpoint: `http://127.0.0.1:${(srv.address() as AddressInfo).port}`, received, server: srv };
}

/** SigV4 recomputed from the request as it arrived, by the steps of AWS's signing documentation
 * (https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html), independent of the SDK. */
function expectedSignature(r: Received, secret: string): { given: string; expected: string } {
  const auth = String(r.headers.authorization);
  const match =
    /^AWS4-HMAC-SHA256 Credential=[^/]+\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, SignedHeaders=([^,]+), Signature=([0-9a-f]{64})$/.exec(
      auth,
    );
  if (!match) throw new Error(`unexpected Authorization header: ${auth}`);
  const [, date, region, service, signedHeaders, given] = match as unknown as string[];
  const names = signedHeaders!.split(';');
  const canonicalHeaders = names.map((n) => `${n}:${String(r.headers[n]).trim()}\n`).join('');
  const canonicalRequest = [
    r.method,
    r.url,
    '',
    canonicalHeaders,
    signedHeaders,
    String(r.headers['x-amz-content-sha256']),
  ].join('\n');
  const scope = `${date}/${region}/${service}/aws4_request`;
  const toSign = [
    'AWS4-HMAC-SHA256',
    String(r.headers['x-amz-date']),
    scope,
    createHash('sha256').update(canonicalRequest).digest('hex'),
  ].join('\n');
  let key: Buffer = Buffer.from(`AWS4${secret}`);
  for (const part of [date!, region!, service!, 'aws4_request'])
    key = createHmac('sha256', key).update(part).digest();
  return { given: given!, expected: createHmac('sha256', key).update(toSign).digest('hex') };
}

describe('SnapshotBlockSender', () => {
  const cleanup: (() => void)[] = [];
  afterEach(() => {
    for (const c of cleanup.splice(0)) c();
  });

  async function senderFor(endpoint: string, requestTimeoutMs?: number): Promise<SnapshotBlockSender> {
    const clients = createAwsClients({ region: 'eu-west-1', endpoint, credentials });
    const sender = await SnapshotBlockSender.forClient(clients.ebs, {
      sockets: 4,
      ...(requestTimeoutMs ? { requestTimeoutMs } : {}),
    });
    cleanup.push(() => {
      sender.close();
      clients.destroy();
    });
    return sender;
  }

  it('sends the PutSnapshotBlock request of the API reference, SigV4-signed with an unsigned body', async () => {
    const sink = await server(() => ({ status: 201, headers: { 'x-amz-checksum': 'x' } }));
    cleanup.push(() => sink.server.close());
    const sender = await senderFor(sink.endpoint);
    const data = Buffer.alloc(512 * 1024, 7);
    const checksum = createHash('sha256').update(data).digest('base64');
    await sender.put({
      snapshotId: 'snap-0123456789abcdef0',
      blockIndex: 42,
      data,
      checksumBase64: checksum,
    });
    await sender.put({
      snapshotId: 'snap-0123456789abcdef0',
      blockIndex: 43,
      data,
      checksumBase64: checksum,
    });

    expect(sink.received).toHaveLength(2);
    const r = sink.received[0]!;
    expect(r.method).toBe('PUT');
    expect(r.url).toBe('/snapshots/snap-0123456789abcdef0/blocks/42');
    expect(r.body.equals(data)).toBe(true);
    expect(r.headers['x-amz-data-length']).toBe(String(data.length));
    expect(r.headers['x-amz-checksum']).toBe(checksum);
    expect(r.headers['x-amz-checksum-algorithm']).toBe('SHA256');
    expect(r.headers['x-amz-content-sha256']).toBe('UNSIGNED-PAYLOAD');
    expect(r.headers.authorization).toMatch(/Credential=AKIDEXAMPLE\/\d{8}\/eu-west-1\/ebs\/aws4_request/);
    expect(r.headers.authorization).toMatch(/SignedHeaders=[^,]*host[^,]*x-amz-checksum[^,]*x-amz-date/);
    const { given, expected } = expectedSignature(r, credentials.secretAccessKey);
    expect(given).toBe(expected);
  });

  it("signs with the client's credentials as they change, and fails calls while the client cannot give any", async () => {
    const sink = await server(() => ({ status: 201 }));
    cleanup.push(() => sink.server.close());
    // Expiring at once: the client asks its provider again each time the sender asks it.
    let current: { accessKeyId: string; secretAccessKey: string } | Error = credentials;
    const provider = async () => {
      if (current instanceof Error) throw current;
      return { ...current, expiration: new Date() };
    };
    vi.useFakeTimers({ toFake: ['setInterval'] });
    cleanup.push(() => vi.useRealTimers());
    const clients = createAwsClients({ region: 'eu-west-1', endpoint: sink.endpoint, credentials: provider });
    const sender = await SnapshotBlockSender.forClient(clients.ebs, { sockets: 1 });
    cleanup.push(() => {
      sender.close();
      clients.destroy();
    });
    const data = Buffer.alloc(16, 1);
    const put = (blockIndex: number) =>
      sender.put({ snapshotId: 'snap-0123456789abcdef0', blockIndex, data, checksumBase64: 'x' });
    // The sender asks again once a second; the refresh is done once the provider's promise settles.
    const refresh = async () => {
      await vi.advanceTimersByTimeAsync(1_000);
      await new Promise((resolve) => setImmediate(resolve));
    };

    await put(0);
    current = { accessKeyId: 'AKIDROTATED', secretAccessKey: 'rotated-secret' };
    await refresh();
    await put(1);
    current = new Error('the instance metadata service did not answer');
    await refresh();
    await expect(put(2)).rejects.toThrow('the instance metadata service did not answer');
    current = credentials;
    await refresh();
    await put(3);

    expect(sink.received.map((r) => String(r.headers.authorization))).toEqual([
      expect.stringContaining('Credential=AKIDEXAMPLE/'),
      expect.stringContaining('Credential=AKIDROTATED/'),
      expect.stringContaining('Credential=AKIDEXAMPLE/'),
    ]);
    expect(expectedSignature(sink.received[1]!, 'rotated-secret').given).toBe(
      expectedSignature(sink.received[1]!, 'rotated-secret').expected,
    );
  });

  it("turns EBS's restJson1 errors into errors the retry policy reads like the SDK's", async () => {
    type Answer = { status: number; headers: Record<string, string>; body: string };
    const answers: Answer[] = [
      {
        status: 404,
        headers: {
          'x-amzn-errortype': 'ResourceNotFoundException:http://internal',
          'x-amzn-requestid': 'req-1',
        },
        body: JSON.stringify({ message: 'The snapshot does not exist.', Reason: 'SNAPSHOT_NOT_FOUND' }),
      },
      {
        status: 400,
        headers: { 'x-amzn-errortype': 'ValidationException' },
        body: JSON.stringify({ message: 'Checksum mismatch', Reason: 'INVALID_BLOCK' }),
      },
      { status: 503, headers: {}, body: 'Service Unavailable' },
      {
        status: 400,
        headers: { 'x-amzn-errortype': 'RequestThrottledException' },
        body: '{"message":"slow down"}',
      },
    ];
    const sink = await server(() => answers.shift()!);
    cleanup.push(() => sink.server.close());
    const sender = await senderFor(sink.endpoint);
    const block = { snapshotId: 'snap-1', blockIndex: 0, data: Buffer.alloc(16), checksumBase64: 'x' };
    const errors: unknown[] = [];
    for (let i = 0; i < 4; i++) errors.push(await sender.put(block).catch((e: unknown) => e));

    expect(isSnapshotNotFound(errors[0])).toBe(true);
    expect(classifyAwsError(errors[0])).toMatchObject({ requestId: 'req-1', httpStatus: 404 });
    expect(classifyAwsError(errors[1])).toMatchObject({
      code: 'ValidationException',
      message: 'Checksum mismatch',
      retryable: false,
    });
    expect(classifyAwsError(errors[2])).toMatchObject({ httpStatus: 503, retryable: true });
    expect(classifyAwsError(errors[3])).toMatchObject({ category: 'throttling', retryable: true });
  });

  it('says when the body is sent, before EBS answers, so the caller can reuse the buffer while it waits', async () => {
    let answer: (() => void) | undefined;
    const sink = await server(() => null);
    sink.server.removeAllListeners('request');
    sink.server.on('request', (req, res) => {
      req.resume();
      req.on('end', () => {
        answer = () => res.writeHead(201).end();
      });
    });
    cleanup.push(() => {
      sink.server.closeAllConnections();
      sink.server.close();
    });
    const sender = await senderFor(sink.endpoint);
    const events: string[] = [];
    const call = sender
      .put(
        { snapshotId: 'snap-1', blockIndex: 0, data: Buffer.alloc(512 * 1024), checksumBase64: 'x' },
        undefined,
        () => events.push('body sent'),
      )
      .then(() => events.push('answered'));
    while (!answer) await new Promise((resolve) => setTimeout(resolve, 5));
    expect(events).toEqual(['body sent']);
    answer();
    await call;
    expect(events).toEqual(['body sent', 'answered']);
  });

  it('gives up on a stalled call after the timeout with an error the writer retries', async () => {
    const sink = await server(() => null);
    cleanup.push(() => {
      sink.server.closeAllConnections();
      sink.server.close();
    });
    const sender = await senderFor(sink.endpoint, 200);
    const error = await sender
      .put({ snapshotId: 'snap-1', blockIndex: 0, data: Buffer.alloc(16), checksumBase64: 'x' })
      .catch((e: unknown) => e);
    expect((error as Error).name).toBe('TimeoutError');
    expect(decideRetry(error, { attempt: 1 })).toMatchObject({ retry: true });
  });

  it('stops a call at once when its signal aborts', async () => {
    const sink = await server(() => null);
    cleanup.push(() => {
      sink.server.closeAllConnections();
      sink.server.close();
    });
    const sender = await senderFor(sink.endpoint);
    const controller = new AbortController();
    const call = sender.put(
      { snapshotId: 'snap-1', blockIndex: 0, data: Buffer.alloc(16), checksumBase64: 'x' },
      controller.signal,
    );
    setTimeout(() => controller.abort(new Error('cancelled')), 50);
    const error = await call.catch((e: unknown) => e);
    expect((error as Error).name).toBe('AbortError');
    expect(decideRetry(error, { attempt: 1 })).toMatchObject({ retry: false });
  });
});
