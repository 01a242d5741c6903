import { request as httpRequest } from 'node:http';
import { brotliCompressSync, gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { expect, it } from 'vitest';
import { apiPerFile, TOKEN } from '../support/index.ts';

// Hostile and careless clients: thousands of requests with random methods, paths (bad
// percent-encoding, traversal, long ids), headers (charsets, encodings, ids, keys) and bodies
// (random JSON, bytes, deep nesting, __proto__, near-valid restore requests, compressed or not).
// The invariant: no 5xx, nothing enqueued, nothing created, no repository path in any answer.

const RUNS = Number(process.env.FUZZ_RUNS ?? 2500);

const api = apiPerFile({
  limits: { postsPerMinutePerToken: 1_000_000 },
});

const pathPiece = fc.oneof(
  fc.constantFrom('%', '%ff', '%E0%A4%A', '%00', '%2e%2e', '..', '%2F', 'plan', 'cancel', 'events', ''),
  fc.stringMatching(/^[A-Za-z0-9._~:@!$&'()*+,;=-]{0,40}$/),
  fc.string({ maxLength: 30 }).map((s) => encodeURIComponent(s)),
  fc.nat(3000).map((n) => 'a'.repeat(n)),
);
const path = fc.oneof(
  fc
    .tuple(
      fc.constantFrom(
        '/v1/restores',
        '/v1/restore-points',
        '/v1',
        '/admin/queues/api/queues',
        '/',
        '/openapi.json',
      ),
      fc.array(pathPiece, { maxLength: 3 }),
      fc.option(
        fc.constantFrom('?status=running', '?limit=-1', '?limit=%ff', '?status[]=x', '?a=%', '?limit=1e9'),
      ),
    )
    .map(([base, pieces, query]) => `${base}${pieces.map((p) => `/${p}`).join('')}${query ?? ''}`),
);
const nearValidRequest = fc.record(
  {
    restorePointId: fc.oneof(fc.string(), fc.constant('rp-x'), fc.integer(), fc.constant(null)),
    target: fc.oneof(
      fc.record(
        {
          accountId: fc.oneof(fc.stringMatching(/^\d{12}$/), fc.string(), fc.integer()),
          region: fc.oneof(fc.constantFrom('eu-west-1', 'us-east-1', 'xx-none-1'), fc.string()),
          kmsKeyId: fc.oneof(
            fc.constantFrom('alias/x', 'arn:aws:kms:eu-west-1:111111111111:key/x'),
            fc.string(),
          ),
          roleArn: fc.oneof(fc.constant('arn:aws:iam::222222222222:role/R'), fc.string()),
          externalId: fc.string(),
        },
        { requiredKeys: [] },
      ),
      fc.anything(),
    ),
    instance: fc.anything(),
    volumes: fc.oneof(fc.array(fc.string(), { maxLength: 5 }), fc.anything()),
    dataPath: fc.oneof(fc.constantFrom('ebs-direct', 'worker-volume'), fc.string()),
    kmsGrant: fc.oneof(fc.constantFrom('auto', 'none'), fc.string()),
    __proto__: fc.anything(),
    constructor: fc.anything(),
  },
  { requiredKeys: [] },
);
const bodyText = fc.oneof(
  fc.json(),
  nearValidRequest.map((r) => JSON.stringify(r)),
  fc.anything().map((v) => JSON.stringify(v) ?? 'undefined'),
  fc.string(),
  fc.nat(20_000).map((n) => `${'['.repeat(n)}${']'.repeat(n)}`),
  fc.constant('{"__proto__":{"isAdmin":true},"constructor":{"prototype":{"x":1}}}'),
);
const body = fc.oneof(
  bodyText.map((text) => Buffer.from(text)),
  fc.uint8Array({ maxLength: 2000 }).map((bytes) => Buffer.from(bytes)),
);
const contentType = fc.option(
  fc.constantFrom(
    'application/json',
    'application/json; charset=utf-8',
    'application/json; charset=latin1',
    'application/json; charset=utf-16',
    'application/json; charset=',
    'text/plain',
    'multipart/form-data; boundary=x',
    'application/x-www-form-urlencoded',
    '*/*',
    'application/json; charset="utf-8"; x=%',
  ),
);
const encoding = fc.option(fc.constantFrom('gzip', 'br', 'deflate', 'identity', 'compress', 'gzip, br', 'x'));
const headerValue = fc.stringMatching(/^[\x21-\x7e]{0,300}$/);
const requestArb = fc.record({
  method: fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD'),
  path,
  contentType,
  encoding,
  compress: fc.boolean(),
  body: fc.option(body),
  requestId: fc.option(
    fc.oneof(
      headerValue,
      fc.nat(20_000).map((n) => 'r'.repeat(n)),
    ),
  ),
  idempotencyKey: fc.option(headerValue),
  lastEventId: fc.option(headerValue),
  auth: fc.constantFrom('token', 'token', 'token', 'none', 'basic', 'garbage'),
});
type FuzzRequest = typeof requestArb extends fc.Arbitrary<infer T> ? T : never;

function send(r: FuzzRequest): Promise<{ status: number; body: string }> {
  const url = new URL(api.baseUrl);
  let payload = r.body ?? undefined;
  if (payload && r.compress && r.encoding === 'gzip') payload = gzipSync(payload);
  if (payload && r.compress && r.encoding === 'br') payload = brotliCompressSync(payload);
  const headers: Record<string, string> = {};
  if (r.auth === 'token') headers.authorization = `Bearer ${TOKEN}`;
  if (r.auth === 'basic') headers.authorization = `Basic ${Buffer.from(`x:${TOKEN}`).toString('base64')}`;
  if (r.auth === 'garbage') headers.authorization = 'Bearer';
  if (r.contentType) headers['content-type'] = r.contentType;
  if (r.encoding) headers['content-encoding'] = r.encoding;
  if (r.requestId) headers['x-request-id'] = r.requestId;
  if (r.idempotencyKey) headers['idempotency-key'] = r.idempotencyKey;
  if (r.lastEventId) headers['last-event-id'] = r.lastEventId;
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      { host: url.hostname, port: url.port, method: r.method, path: r.path, headers, timeout: 10_000 },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk) => {
          if (text.length < 100_000) text += chunk;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer in 10 s: ${r.method} ${r.path.slice(0, 200)}`)));
    req.on('error', (error: NodeJS.ErrnoException) => {
      // The server answered (e.g. 401) before reading a large body and closed the connection: the
      // client sees a reset, not a server error.
      if (error.code === 'ECONNRESET' || error.code === 'EPIPE') resolve({ status: 0, body: '' });
      else reject(error);
    });
    req.end(payload);
  });
}

it(`${RUNS} hostile requests: no 5xx, nothing enqueued, nothing created, no repository path revealed`, {
  timeout: 120_000,
}, async () => {
  const statuses = new Map<number, number>();
  await fc.assert(
    fc.asyncProperty(requestArb, async (r) => {
      const res = await send(r);
      statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
      expect(res.status, `${r.method} ${r.path.slice(0, 200)} -> ${res.body.slice(0, 300)}`).toBeLessThan(
        500,
      );
      expect(res.body).not.toContain(api.repository.location);
    }),
    {
      numRuns: RUNS,
      seed: Number(process.env.FUZZ_SEED ?? Date.now() % 2 ** 31),
      endOnFailure: true,
      // The counterexample can hold a 20,000-deep body: print its start only.
      reporter: (details) => {
        if (!details.failed) return;
        const example = JSON.stringify(details.counterexample, (_key, value) =>
          typeof value === 'string' && value.length > 300 ? `${value.slice(0, 300)}…` : value,
        );
        throw new Error(
          `seed ${details.seed}, path ${details.counterexamplePath}: ${String(details.errorInstance).slice(0, 500)}\n${example?.slice(0, 2000)}`,
        );
      },
    },
  );
  expect(await api.jobCount()).toBe(0);
  expect(await api.store.list({ limit: 10 })).toEqual([]);
  // The mix reached the routes, not only the auth and parse layers.
  expect([...statuses.keys()]).toEqual(expect.arrayContaining([200, 400, 401, 404]));
  // Resets (status 0): the server answered (401, 404, 403) before the client finished sending a
  // body it did not need; most requests must still get a full answer.
  expect(statuses.get(0) ?? 0).toBeLessThan(RUNS / 2);
});
