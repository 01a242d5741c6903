import { randomUUID } from 'node:crypto';
import { restoreSchema } from '@ec2-restore/contracts';
import { credentialsForAccount } from '@ec2-restore/local-aws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiHarness, createKey, newAccount, REGION, startApi } from '../support/index.ts';

let api: ApiHarness;
let request: { restorePointId: string; target: { accountId: string; region: string; kmsKeyId: string } };

beforeAll(async () => {
  // Same account: the worker role's account is the target; its key policy delegates to the account.
  const account = newAccount();
  const { Arn: kmsKeyId } = await createKey(account);
  api = await startApi({ workerCredentials: credentialsForAccount(account.id) });
  request = {
    restorePointId: api.restorePointId,
    target: { accountId: account.id, region: REGION, kmsKeyId },
  };
});
afterAll(async () => {
  await api?.close();
});

function post(json: unknown, key?: string) {
  return api.call('/v1/restores', { method: 'POST', json, headers: key ? { 'idempotency-key': key } : {} });
}

describe('POST /v1/restores with Idempotency-Key', () => {
  it('same key and same body: the first restore, queued once', async () => {
    const key = randomUUID();
    const first = await post(request, key);
    expect(first.status).toBe(202);
    const restore = (await first.json()) as { id: string; status: string; mode: string };
    expect(restoreSchema.safeParse(restore).error).toBeUndefined();
    expect(restore).toMatchObject({ status: 'queued', mode: 'same-account' });
    expect(first.headers.get('location')).toBe(`/v1/restores/${restore.id}`);
    const jobsAfterFirst = await api.jobCount();
    expect(jobsAfterFirst).toBe(4); // instance + one snapshot per volume

    // The same request again, with its keys in another order and defaults spelled out.
    const again = await post(
      { dataPath: 'ebs-direct', target: { ...request.target }, restorePointId: request.restorePointId },
      key,
    );
    expect(again.status).toBe(202);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(((await again.json()) as { id: string }).id).toBe(restore.id);
    expect(await api.jobCount()).toBe(jobsAfterFirst);
    expect((await api.store.list()).map((r) => r.id)).toEqual([restore.id]);
  });

  it('same key with another body: 409 naming the first restore', async () => {
    const key = randomUUID();
    const first = (await (await post(request, key)).json()) as { id: string };
    const other = await post({ ...request, volumes: ['/dev/xvdb'] }, key);
    expect(other.status).toBe(409);
    const body = (await other.json()) as { error: { code: string; details: { restoreId: string } } };
    expect(body.error.code).toBe('idempotency_conflict');
    expect(body.error.details.restoreId).toBe(first.id);
  });

  it('concurrent requests with one key create one restore', async () => {
    const key = randomUUID();
    const before = (await api.store.list()).length;
    const answers = await Promise.all([post(request, key), post(request, key), post(request, key)]);
    const ids = await Promise.all(
      answers.map(async (answer) => ((await answer.json()) as { id: string }).id),
    );
    expect(answers.map((answer) => answer.status)).toEqual([202, 202, 202]);
    expect(new Set(ids).size).toBe(1);
    expect((await api.store.list()).length).toBe(before + 1);
  });

  it('without a key, each request is a new restore; GET and the list show them', async () => {
    const a = (await (await post(request)).json()) as { id: string };
    const b = (await (await post(request)).json()) as { id: string };
    expect(a.id).not.toBe(b.id);
    const one = await api.call(`/v1/restores/${a.id}`);
    expect(((await one.json()) as { request: unknown }).request).toMatchObject(request);
    const list = (await (await api.call('/v1/restores?status=queued&limit=2')).json()) as {
      restores: { id: string }[];
    };
    expect(list.restores.map((r) => r.id)).toEqual([b.id, a.id]);
  });
});
