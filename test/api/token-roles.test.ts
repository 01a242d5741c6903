import { randomUUID } from 'node:crypto';
import type { Queue } from 'bullmq';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type ApiHarness, startApi, TOKEN } from '../support/index.ts';

const READ = `read-${randomUUID()}`;
const ADMIN = `admin-${randomUUID()}`;
// TOKEN is listed bare: a token without a role is an operator token.
const tokens = [TOKEN, { token: READ, role: 'read' as const }, { token: ADMIN, role: 'admin' as const }];

let api: ApiHarness;
let shareQueue: Queue;

beforeAll(async () => {
  api = await startApi({
    apiTokens: tokens,
  });
  shareQueue = api.queues.find((queue) => queue.name === 'restore.share') as Queue;
});
afterAll(async () => {
  await api?.close();
});

function as(token: string, path: string, init: RequestInit & { json?: unknown } = {}) {
  const { json, ...rest } = init;
  return fetch(`${api.baseUrl}${path}`, {
    ...rest,
    headers: {
      authorization: `Bearer ${token}`,
      ...(json === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(json === undefined ? {} : { body: JSON.stringify(json) }),
  });
}

const request = () => ({
  restorePointId: api.restorePointId,
  target: { accountId: '222222222222', region: 'eu-west-1', kmsKeyId: 'alias/target' },
});

describe('API routes by role', () => {
  it('a read token reads but cannot create, plan or cancel (403 forbidden naming the role)', async () => {
    for (const path of ['/v1/restores', '/v1/restore-points', '/metrics', '/readyz', '/openapi.json']) {
      expect((await as(READ, path)).status, path).toBe(200);
    }
    for (const path of ['/v1/restores', '/v1/restores/plan', `/v1/restores/${randomUUID()}/cancel`]) {
      const res = await as(READ, path, { method: 'POST', json: request() });
      expect(res.status, path).toBe(403);
      const body = (await res.json()) as { error: { code: string; message: string; details: unknown } };
      expect(body.error.code).toBe('forbidden');
      expect(body.error.message).toContain('role operator');
      expect(body.error.details).toEqual({ role: 'read', required: 'operator' });
    }
    expect(await api.jobCount()).toBe(0);
    expect(await api.store.list({ limit: 10 })).toEqual([]);
  });

  it('an operator token (a bare token) may plan', async () => {
    const res = await as(TOKEN, '/v1/restores/plan', { method: 'POST', json: request() });
    expect(res.status).toBe(200);
  });
});

describe('Bull Board by role', () => {
  let jobId: string;
  const original = { restoreId: 'r1', targetAccountId: '222222222222' };

  beforeEach(async () => {
    await shareQueue.obliterate({ force: true });
    await shareQueue.resume();
    const job = await shareQueue.add('share', original, { delay: 3_600_000 });
    jobId = job.id as string;
  });

  const actions = () =>
    [
      ['PUT', `/api/queues/restore.share/pause`, undefined],
      ['PUT', `/api/queues/pause`, undefined],
      ['PUT', `/api/queues/restore.share/clean/delayed`, undefined],
      ['PUT', `/api/queues/restore.share/obliterate`, undefined],
      ['PUT', `/api/queues/restore.share/empty`, undefined],
      ['POST', `/api/queues/restore.share/add`, { name: 'share', data: { targetAccountId: '999999999999' } }],
      [
        'PATCH',
        `/api/queues/restore.share/${jobId}/update-data`,
        { jobData: { targetAccountId: '999999999999' } },
      ],
      ['PUT', `/api/queues/restore.share/${jobId}/promote`, undefined],
      ['PUT', `/api/queues/restore.share/${jobId}/clean`, undefined],
    ] as const;

  it.each([
    ['read', READ],
    ['operator', TOKEN],
  ])('a %s token sees the queues read-only and no action changes anything', async (role, token) => {
    const queues = await as(token, '/admin/queues/api/queues?page=1&jobsPerPage=10');
    expect(queues.status).toBe(200);
    const body = (await queues.json()) as { queues: { name: string; readOnlyMode: boolean }[] };
    expect(body.queues.every((queue) => queue.readOnlyMode)).toBe(true);

    for (const [method, path, json] of actions()) {
      const res = await as(token, `/admin/queues${path}`, { method, ...(json ? { json } : {}) });
      expect(res.status, `${method} ${path}`).toBe(403);
      const error = ((await res.json()) as { error: { code: string; message: string } }).error;
      expect(error.code).toBe('forbidden');
      expect(error.message).toContain(`read-only for a ${role} token`);
    }
    // Also as a browser would send it (Basic, token as the password).
    const basic = `Basic ${Buffer.from(`x:${token}`).toString('base64')}`;
    const viaBasic = await fetch(`${api.baseUrl}/admin/queues/api/queues/restore.share/pause`, {
      method: 'PUT',
      headers: { authorization: basic },
    });
    expect(viaBasic.status).toBe(403);

    expect(await shareQueue.isPaused()).toBe(false);
    const counts = await shareQueue.getJobCounts();
    expect(counts.delayed).toBe(1);
    expect(Object.values(counts).reduce((a, b) => a + b, 0)).toBe(1);
    expect((await shareQueue.getJob(jobId))?.data).toEqual(original);
  });

  it('an admin token may pause, update job data, add, clean and obliterate', async () => {
    const queues = await as(ADMIN, '/admin/queues/api/queues?page=1&jobsPerPage=10');
    const body = (await queues.json()) as { queues: { readOnlyMode: boolean }[] };
    expect(body.queues.some((queue) => queue.readOnlyMode)).toBe(false);

    expect((await as(ADMIN, '/admin/queues/api/queues/restore.share/pause', { method: 'PUT' })).status).toBe(
      200,
    );
    expect(await shareQueue.isPaused()).toBe(true);
    const update = await as(ADMIN, `/admin/queues/api/queues/restore.share/${jobId}/update-data`, {
      method: 'PATCH',
      json: { jobData: { changed: true } },
    });
    expect(update.status).toBe(200);
    expect((await shareQueue.getJob(jobId))?.data).toEqual({ changed: true });
    const add = await as(ADMIN, '/admin/queues/api/queues/restore.share/add', {
      method: 'POST',
      json: { name: 'share', data: { added: true } },
    });
    expect(add.status).toBe(200);
    expect(await shareQueue.count()).toBe(2);
    expect(
      (await as(ADMIN, '/admin/queues/api/queues/restore.share/obliterate', { method: 'PUT' })).status,
    ).toBe(200);
    expect(await shareQueue.count()).toBe(0);
  });
});
