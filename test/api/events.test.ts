import { randomUUID } from 'node:crypto';
import { type RestoreResult, restoreSchema } from '@ec2-restore/contracts';
import { describe, expect, it } from 'vitest';
import { apiPerFile } from '../support/index.ts';
import { readEventStream } from './sse.ts';

const api = apiPerFile();

const request = {
  restorePointId: 'rp-1',
  target: { accountId: '333333333333', region: 'eu-west-1', kmsKeyId: 'alias/restore' },
};

/** A restore as the API stores it; the test then plays the workers, writing through the store. */
async function storedRestore() {
  const id = randomUUID();
  await api.store.create({
    id,
    mode: 'same-account',
    request,
    steps: ['snapshot:/dev/xvda', 'instance'],
    volumes: [{ deviceName: '/dev/xvda', bytesTotal: 2 ** 30 }],
  });
  return id;
}

describe('GET /v1/restores/{id}/events', () => {
  it('streams step changes, progress and the end, then closes', async () => {
    const id = await storedRestore();
    const res = await api.call(`/v1/restores/${id}/events`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/event-stream');
    const reading = readEventStream(res);

    await api.store.startStep(id, 'snapshot:/dev/xvda');
    await api.store.setVolumeProgress(id, '/dev/xvda', 2 ** 29);
    await api.store.setVolumeProgress(id, '/dev/xvda', 2 ** 30);
    await api.store.finishStep(id, 'snapshot:/dev/xvda', 'succeeded');
    await api.store.startStep(id, 'instance');
    await api.store.finishStep(id, 'instance', 'succeeded');
    const result: RestoreResult = {
      instanceId: 'i-0123456789abcdef0',
      accountId: '333333333333',
      region: 'eu-west-1',
      volumes: [
        {
          deviceName: '/dev/xvda',
          volumeId: 'vol-1',
          kmsKeyId: 'arn:aws:kms:eu-west-1:333333333333:key/k',
          sizeGiB: 1,
        },
      ],
    };
    await api.store.succeed(id, result);

    const events = await reading;
    expect(events.map((event) => event.event)).toEqual([
      'step',
      'status',
      'progress',
      'progress',
      'step',
      'step',
      'step',
      'status',
      'end',
    ]);
    expect(events[0]?.data).toEqual({ name: 'snapshot:/dev/xvda', status: 'running', attempts: 1 });
    expect(events[3]?.data).toMatchObject({
      deviceName: '/dev/xvda',
      bytesDone: 2 ** 30,
      totalDone: 2 ** 30,
    });
    expect(events.at(-1)?.data).toEqual({ status: 'succeeded', result, error: null });
    expect(events.every((event) => event.id !== undefined)).toBe(true);

    // The restore resource agrees with what was streamed.
    const restore = (await (await api.call(`/v1/restores/${id}`)).json()) as Record<string, unknown>;
    // It is a restore as the public contract describes it.
    expect(restoreSchema.safeParse(restore).error).toBeUndefined();
    expect(restore).toMatchObject({
      id,
      status: 'succeeded',
      result,
      progress: { bytesTotal: 2 ** 30, bytesDone: 2 ** 30 },
    });
  });

  it('replays the history to a late client and resumes after Last-Event-ID', async () => {
    const id = await storedRestore();
    await api.store.startStep(id, 'snapshot:/dev/xvda');
    await api.store.fail(id, {
      code: 'kms_access_denied',
      message: 'The key policy does not allow the worker role',
      category: 'kms',
      step: 'snapshot:/dev/xvda',
      awsRequestId: 'req-1',
    });
    const all = await readEventStream(await api.call(`/v1/restores/${id}/events`));
    expect(all.map((event) => event.event)).toEqual(['step', 'status', 'status', 'end']);
    expect(all.at(-1)?.data).toMatchObject({ status: 'failed', error: { code: 'kms_access_denied' } });

    const resumed = await readEventStream(
      await api.call(`/v1/restores/${id}/events`, { headers: { 'last-event-id': all[1]?.id ?? '' } }),
    );
    expect(resumed.map((event) => event.id)).toEqual(all.slice(2).map((event) => event.id));
  });

  it('keeps a stream open while the restore runs and lets the client leave early', async () => {
    const id = await storedRestore();
    const controller = new AbortController();
    const res = await api.call(`/v1/restores/${id}/events`, { signal: controller.signal });
    const reader = res.body?.getReader();
    await api.store.startStep(id, 'snapshot:/dev/xvda');
    let text = '';
    while (!text.includes('event: status')) {
      const chunk = await reader?.read();
      if (!chunk || chunk.done) throw new Error(`stream ended early: ${text}`);
      text += new TextDecoder().decode(chunk.value);
    }
    expect(text).toContain('event: step');
    controller.abort();
    // The server is still fine, and the restore goes on.
    await api.store.finishStep(id, 'snapshot:/dev/xvda', 'succeeded');
    expect((await api.call(`/v1/restores/${id}`)).status).toBe(200);
  });

  it('answers 404 for an unknown restore instead of an empty stream', async () => {
    const res = await api.call(`/v1/restores/${randomUUID()}/events`);
    expect(res.status).toBe(404);
  });
});

describe('POST /v1/restores/{id}/cancel', () => {
  it('marks a running restore cancelling, and refuses once it has ended', async () => {
    const id = await storedRestore();
    await api.store.startStep(id, 'snapshot:/dev/xvda');
    const res = await api.call(`/v1/restores/${id}/cancel`, { method: 'POST' });
    expect(res.status).toBe(202);
    expect(((await res.json()) as { status: string }).status).toBe('cancelling');
    expect((await api.call('/v1/restores?status=cancelling').then((r) => r.json())) as unknown).toMatchObject(
      {
        restores: [{ id }],
      },
    );

    // The workers finish the cancel.
    await api.store.setStatus(id, 'cancelled');
    const again = await api.call(`/v1/restores/${id}/cancel`, { method: 'POST' });
    expect(again.status).toBe(409);
    expect(((await again.json()) as { error: { code: string } }).error.code).toBe('restore_not_cancellable');
  });
});
