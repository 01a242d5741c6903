import { describe, expect, it } from 'vitest';
import { apiPerFile, TOKEN } from '../support/index.ts';

const api = apiPerFile();

interface ErrorBody {
  error: { code: string; message: string; category: string; details: Record<string, unknown> };
}

describe('authentication', () => {
  it.each([
    ['GET', '/v1/restores'],
    ['POST', '/v1/restores'],
    ['POST', '/v1/restores/plan'],
    ['GET', '/v1/restore-points'],
    ['GET', '/admin/queues'],
    ['GET', '/admin/queues/api/queues'],
    ['GET', '/openapi.json'],
    ['GET', '/metrics'],
    ['GET', '/readyz'],
  ])('%s %s without a token is 401 in the error envelope', async (method, path) => {
    const res = await fetch(`${api.baseUrl}${path}`, { method });
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toContain('Bearer realm="ec2-restore"');
    const body = (await res.json()) as ErrorBody;
    expect(body.error).toMatchObject({ code: 'unauthorized', category: 'permission', details: {} });
    expect(body.error.message).toContain('Authorization: Bearer');
  });

  it('refuses a wrong token, on the API and on Bull Board', async () => {
    for (const path of ['/v1/restores', '/admin/queues']) {
      const res = await fetch(`${api.baseUrl}${path}`, { headers: { authorization: 'Bearer not-a-token' } });
      expect(res.status).toBe(401);
      expect(((await res.json()) as ErrorBody).error.message).toContain(
        'not one of the configured API tokens',
      );
    }
  });

  it('lets a browser log in to Bull Board with a token as the Basic password, and only there', async () => {
    const basic = (password: string) => `Basic ${Buffer.from(`operator:${password}`).toString('base64')}`;
    const challenge = await fetch(`${api.baseUrl}/admin/queues`);
    expect(challenge.headers.get('www-authenticate')).toMatch(/^Basic realm=/);
    const ok = await fetch(`${api.baseUrl}/admin/queues`, { headers: { authorization: basic(TOKEN) } });
    expect(ok.status).toBe(200);
    const wrong = await fetch(`${api.baseUrl}/admin/queues`, { headers: { authorization: basic('nope') } });
    expect(wrong.status).toBe(401);
    const api401 = await fetch(`${api.baseUrl}/v1/restores`, { headers: { authorization: basic(TOKEN) } });
    expect(api401.status).toBe(401);
  });

  it('serves /healthz without a token, and the rest with one', async () => {
    expect((await fetch(`${api.baseUrl}/healthz`)).status).toBe(200);
    expect((await api.call('/readyz')).status).toBe(200);
    const board = await api.call('/admin/queues');
    expect(board.status).toBe(200);
    expect(await board.text()).toContain('<html');
  });

  it('shows the three queues in Bull Board with the JSON Schema of their job data', async () => {
    const res = await api.call('/admin/queues/api/queues?page=1&jobsPerPage=10');
    expect(res.status).toBe(200);
    const body = (await res.json()) as { queues: { name: string }[] };
    expect(body.queues.map((queue) => queue.name).sort()).toEqual([
      'restore.instance',
      'restore.share',
      'restore.snapshot',
    ]);
    const schema = await api.call('/admin/queues/api/queues/restore.snapshot/job-data-schema');
    expect(schema.status).toBe(200);
    const snapshot = (await schema.json()) as { properties?: Record<string, unknown>; required?: string[] };
    expect(snapshot.required).toEqual(
      expect.arrayContaining(['restoreId', 'volume', 'dataPath', 'targetKmsKeyId']),
    );
    const instance = (await (
      await api.call('/admin/queues/api/queues/restore.instance/job-data-schema')
    ).json()) as { anyOf?: unknown[] };
    // The instance queue carries the instance and the cleanup jobs.
    expect(instance.anyOf).toHaveLength(2);
  });
});

describe('validation', () => {
  it('answers 400 invalid_request naming each bad field with what is expected', async () => {
    const res = await api.post('/v1/restores', {
      restorePointId: '',
      target: { accountId: '12345', region: 'mars-1', kmsKeyId: 'not a key' },
      volumes: ['/dev/nope'],
      dataPath: 'carrier-pigeon',
      instance: { securityGroupIds: ['sg-x'] },
    });
    expect(res.status).toBe(400);
    const body = (await res.json()) as ErrorBody;
    expect(body.error.code).toBe('invalid_request');
    expect(body.error.category).toBe('input');
    const issues = body.error.details.issues as { path: string; message: string }[];
    const paths = issues.map((issue) => issue.path);
    expect(paths).toEqual(
      expect.arrayContaining([
        'restorePointId',
        'target.accountId',
        'target.region',
        'target.kmsKeyId',
        'volumes[0]',
        'dataPath',
        'instance.securityGroupIds[0]',
      ]),
    );
    expect(issues.find((issue) => issue.path === 'target.accountId')?.message).toContain('12-digit');
    expect(issues.find((issue) => issue.path === 'dataPath')?.message).toContain('ebs-direct');
    expect(await api.jobCount()).toBe(0);
    expect(await api.store.list()).toEqual([]);
  });

  it('answers 400 for a body that is not JSON, and for a missing body', async () => {
    const broken = await api.call('/v1/restores/plan', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"restorePointId":',
    });
    expect(broken.status).toBe(400);
    expect(((await broken.json()) as ErrorBody).error.code).toBe('invalid_request');
    const empty = await api.call('/v1/restores', { method: 'POST' });
    expect(empty.status).toBe(400);
    const issues = ((await empty.json()) as ErrorBody).error.details.issues as { path: string }[];
    expect(issues.length).toBeGreaterThan(0);
  });

  it('answers 400 for a bad status filter and 404 for an unknown restore', async () => {
    const list = await api.call('/v1/restores?status=sleeping');
    expect(list.status).toBe(400);
    const issues = ((await list.json()) as ErrorBody).error.details.issues as { path: string }[];
    expect(issues.map((issue) => issue.path)).toEqual(['query.status']);
    const missing = await api.call('/v1/restores/does-not-exist');
    expect(missing.status).toBe(404);
    expect(((await missing.json()) as ErrorBody).error.code).toBe('not_found');
    const cancel = await api.call('/v1/restores/does-not-exist/cancel', { method: 'POST' });
    expect(cancel.status).toBe(404);
    const unknownRoute = await api.call('/v1/nothing-here');
    expect(unknownRoute.status).toBe(404);
  });
});

describe('restore point and logs', () => {
  it('answers 422 restore_point_not_found for a restore point the repository lacks', async () => {
    const res = await api.post('/v1/restores/plan', {
      restorePointId: 'rp-does-not-exist',
      target: { accountId: '222222222222', region: 'eu-west-1', kmsKeyId: 'alias/restore' },
    });
    expect(res.status).toBe(422);
    const body = (await res.json()) as ErrorBody;
    expect(body.error.code).toBe('restore_point_not_found');
    expect(body.error.details.issues).toEqual([{ path: 'restorePointId', message: expect.any(String) }]);
  });

  it('logs JSON lines with the restore id, and never the bearer token', async () => {
    await api.call('/v1/restores/7f2c1a4e-0000-4000-8000-000000000000');
    await fetch(`${api.baseUrl}/v1/restores`, { headers: { authorization: 'Bearer wrong-secret-value' } });
    const lines = api
      .logs()
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(lines.find((line) => line.restoreId === '7f2c1a4e-0000-4000-8000-000000000000')).toMatchObject({
      route: '/v1/restores/:id',
      status: 404,
    });
    expect(api.logs()).not.toContain(TOKEN);
    expect(api.logs()).not.toContain('wrong-secret-value');
  });
});

describe('catalogue and operator routes', () => {
  it('lists the restore points of the repository and shows one', async () => {
    const list = await api.call('/v1/restore-points');
    expect(list.status).toBe(200);
    const { restorePoints } = (await list.json()) as { restorePoints: { id: string }[] };
    expect(restorePoints.map((point) => point.id)).toEqual([api.restorePointId]);
    const one = await api.call(`/v1/restore-points/${api.restorePointId}`);
    expect(one.status).toBe(200);
    const point = (await one.json()) as { volumes: { deviceName: string; root: boolean }[] };
    expect(point.volumes.map((volume) => [volume.deviceName, volume.root])).toEqual([
      ['/dev/xvda', true],
      ['/dev/xvdb', false],
      ['/dev/xvdc', false],
    ]);
    expect((await api.call('/v1/restore-points/rp-missing')).status).toBe(404);
  });

  it('serves an OpenAPI 3.1 document with every public route and the contract schemas', async () => {
    const res = await api.call('/openapi.json');
    expect(res.status).toBe(200);
    const document = (await res.json()) as {
      openapi: string;
      paths: Record<string, Record<string, unknown>>;
      components: { schemas: Record<string, { properties?: Record<string, unknown> }> };
    };
    expect(document.openapi).toBe('3.1.0');
    expect(Object.keys(document.paths)).toEqual(
      expect.arrayContaining([
        '/v1/restores',
        '/v1/restores/plan',
        '/v1/restores/{id}',
        '/v1/restores/{id}/cancel',
        '/v1/restores/{id}/events',
        '/v1/restore-points',
        '/v1/restore-points/{id}',
        '/healthz',
        '/readyz',
        '/metrics',
      ]),
    );
    expect(Object.keys(document.paths['/v1/restores'] ?? {}).sort()).toEqual(['get', 'post']);
    expect(Object.keys(document.components.schemas.RestoreRequest?.properties ?? {})).toEqual(
      expect.arrayContaining(['restorePointId', 'target', 'instance', 'volumes', 'dataPath', 'kmsGrant']),
    );
    // Every $ref points at a schema that exists.
    const refs = [...JSON.stringify(document).matchAll(/"\$ref":"#\/components\/schemas\/([^"]+)"/g)].map(
      (m) => m[1],
    );
    for (const name of new Set(refs)) expect(document.components.schemas).toHaveProperty(name as string);
  });

  it('exposes Prometheus metrics', async () => {
    const res = await api.call('/metrics');
    expect(res.status).toBe(200);
    const text = await res.text();
    expect(text).toContain('ec2restore_restores{status="queued"}');
    expect(text).toContain('# TYPE ec2restore_step_duration_seconds histogram');
    expect(text).toContain('ec2restore_bytes_restored_total');
    expect(text).toContain('# TYPE ec2restore_aws_calls_total counter');
  });
});
