import { randomUUID } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { brotliCompressSync, gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { apiPerFile, TOKEN } from '../support/index.ts';

const OTHER = `other-${randomUUID()}`;
// Used by the rate-limit test only, so the other tests' POSTs do not count against it.
const RATE = `rate-${randomUUID()}`;
const api = apiPerFile({
  apiTokens: [TOKEN, OTHER, RATE],
  limits: { postsPerMinutePerToken: 5 },
});

interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** A request exactly as given (no URL normalisation, any headers and body bytes). */
function raw(
  method: string,
  path: string,
  headers: Record<string, string> = {},
  body?: Buffer | string,
  token = OTHER,
): Promise<RawResponse> {
  const url = new URL(api.baseUrl);
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        host: url.hostname,
        port: url.port,
        method,
        path,
        headers: { authorization: `Bearer ${token}`, ...headers },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk) => {
          text += chunk;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
      },
    );
    req.on('error', reject);
    if (body !== undefined) req.end(body);
    else req.end();
  });
}

function errorOf(res: RawResponse) {
  return (
    JSON.parse(res.body) as {
      error: { code: string; message: string; details: { issues?: { path: string }[] } };
    }
  ).error;
}

describe('malformed requests are 400, never 500', () => {
  it.each([
    ['GET', '/v1/restores/%ff'],
    ['GET', '/v1/restores/%'],
    ['GET', '/v1/restores/%E0%A4%A'],
    ['GET', '/v1/restores/%ff/events'],
    ['POST', '/v1/restores/%E0%A4%A/cancel'],
    ['GET', '/v1/restore-points/%c0%af'],
  ])('%s %s: 400 invalid_request (not valid percent-encoding)', async (method, path) => {
    const res = await raw(method, path, {}, undefined, TOKEN);
    expect(res.status, res.body).toBe(400);
    expect(errorOf(res)).toMatchObject({ code: 'invalid_request', details: { issues: [{ path: 'path' }] } });
    expect(errorOf(res).message).toContain('percent-encoding');
  });

  const json = JSON.stringify({ restorePointId: 'rp-x' });
  it.each([
    ['application/json; charset=latin1', undefined, json, 'headers.content-type'],
    ['application/json; charset=iso-8859-1', undefined, json, 'headers.content-type'],
    ['application/json', 'compress', json, 'headers.content-encoding'],
    ['application/json', 'br', Buffer.from('not brotli at all'), 'headers.content-encoding'],
    ['application/json', 'gzip', Buffer.from('not gzip'), 'headers.content-encoding'],
    ['application/json', 'gzip', gzipSync(json).subarray(0, 12), 'headers.content-encoding'],
    ['application/json', 'deflate', Buffer.from([1, 2, 3, 4]), 'headers.content-encoding'],
  ])('Content-Type %s, Content-Encoding %s: 400 naming the header', async (type, encoding, body, path) => {
    const before = await api.jobCount();
    const res = await raw(
      'POST',
      '/v1/restores',
      { 'content-type': type, ...(encoding ? { 'content-encoding': encoding } : {}) },
      body,
    );
    expect(res.status, res.body).toBe(400);
    expect(errorOf(res)).toMatchObject({ code: 'invalid_request', details: { issues: [{ path }] } });
    expect(await api.jobCount()).toBe(before);
  });

  it('a correctly compressed body (gzip, br) is read like a plain one', async () => {
    for (const [encoding, body] of [
      ['gzip', gzipSync(JSON.stringify({ nope: 1 }))],
      ['br', brotliCompressSync(JSON.stringify({ nope: 1 }))],
    ] as const) {
      const res = await raw(
        'POST',
        '/v1/restores/plan',
        { 'content-type': 'application/json', 'content-encoding': encoding },
        body,
        TOKEN,
      );
      expect(res.status, res.body).toBe(400);
      expect(errorOf(res).details.issues?.map((i) => i.path)).toContain('restorePointId');
    }
  });
});

describe('POST rate limit per token', () => {
  it('the 6th POST in a minute (limit 5) is 429 with Retry-After; another token and GETs are not limited', async () => {
    const post = (token: string) =>
      raw('POST', '/v1/restores', { 'content-type': 'application/json' }, '{}', token);
    const statuses = [];
    for (let i = 0; i < 6; i++) statuses.push((await post(RATE)).status);
    expect(statuses).toEqual([400, 400, 400, 400, 400, 429]);
    const refused = await post(RATE);
    expect(refused.status).toBe(429);
    expect(Number(refused.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(Number(refused.headers['retry-after'])).toBeLessThanOrEqual(20);
    expect(errorOf(refused)).toMatchObject({ code: 'rate_limited' });
    expect(errorOf(refused).message).toContain('API_POST_RATE_PER_MINUTE');
    expect((await raw('GET', '/v1/restores', {}, undefined, RATE)).status).toBe(200);
    expect((await post(OTHER)).status).toBe(400);
  });
});

describe('what errors and logs reveal', () => {
  it('restore_point_not_found does not name the repository location', async () => {
    const res = await api.post('/v1/restores/plan', {
      restorePointId: 'rp-does-not-exist',
      target: { accountId: '222222222222', region: 'eu-west-1', kmsKeyId: 'alias/x' },
    });
    const text = await res.text();
    expect(text).toContain('rp-does-not-exist');
    expect(text).not.toContain(api.repository.location);
    const point = await api.call('/v1/restore-points/rp-does-not-exist');
    expect(point.status).toBe(404);
    expect(await point.text()).not.toContain(api.repository.location);
  });

  it('keeps a short plain X-Request-Id and replaces a long or odd one', async () => {
    const ok = await api.call('/v1/restores', { headers: { 'x-request-id': 'abc-123.x:1' } });
    expect(ok.headers.get('x-request-id')).toBe('abc-123.x:1');
    for (const bad of ['x'.repeat(15_000), 'has space', 'a'.repeat(129)]) {
      const res = await raw('GET', '/v1/restores', { 'x-request-id': bad }, undefined, TOKEN);
      expect(res.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
      expect(api.logs()).not.toContain(bad);
    }
  });

  it('logs every request exactly once, also when the client leaves before the answer ends', async () => {
    const id = randomUUID();
    await api.store.create({ id, mode: 'same-account', request: {}, steps: ['instance'] });
    const requestId = `left-${randomUUID()}`;
    const controller = new AbortController();
    const res = await api.call(`/v1/restores/${id}/events`, {
      headers: { 'x-request-id': requestId },
      signal: controller.signal,
    });
    expect(res.status).toBe(200);
    controller.abort();
    const lines = () =>
      api
        .logs()
        .split('\n')
        .filter((line) => line.includes(requestId));
    await expect.poll(() => lines().length).toBe(1);
    expect(JSON.parse(lines()[0] ?? '{}')).toMatchObject({ requestId, status: 200, clientLeft: true });

    const plainId = `plain-${randomUUID()}`;
    await api.call('/v1/restores', { headers: { 'x-request-id': plainId } });
    await new Promise((r) => setTimeout(r, 200));
    expect(
      api
        .logs()
        .split('\n')
        .filter((line) => line.includes(plainId)),
    ).toHaveLength(1);
  });
});
