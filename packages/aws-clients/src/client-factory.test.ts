import type { AwsCredentialIdentity } from '@smithy/types';
import { describe, expect, it } from 'vitest';
import { shareCredentials } from './client-factory.ts';

/** A provider that answers credentials expiring `lifetimeMs` from now, counting its calls. */
function counting(lifetimeMs: number, fail = () => false) {
  let calls = 0;
  const provider = async (): Promise<AwsCredentialIdentity> => {
    calls += 1;
    await new Promise((resolve) => setTimeout(resolve, 5));
    if (fail()) throw new Error('AccessDenied');
    return {
      accessKeyId: `AKIA${calls}`,
      secretAccessKey: 'secret',
      expiration: new Date(Date.now() + lifetimeMs),
    };
  };
  return { provider, calls: () => calls };
}

describe('shareCredentials', () => {
  it('asks once for every client holding it, also when they ask at the same time', async () => {
    const source = counting(3_600_000);
    const shared = shareCredentials(source.provider);
    const answers = await Promise.all([shared(), shared(), shared()]);
    expect(await shared()).toBe(answers[0]);
    expect(new Set(answers.map((a) => a.accessKeyId))).toEqual(new Set(['AKIA1']));
    expect(source.calls()).toBe(1);
  });

  it('asks again when the credentials are near their expiry', async () => {
    const source = counting(60_000);
    const shared = shareCredentials(source.provider);
    expect((await shared()).accessKeyId).toBe('AKIA1');
    expect((await shared()).accessKeyId).toBe('AKIA2');
    expect(source.calls()).toBe(2);
  });

  it('asks again when a client forces a refresh', async () => {
    const source = counting(3_600_000);
    const shared = shareCredentials(source.provider);
    expect((await shared()).accessKeyId).toBe('AKIA1');
    expect((await shared({ forceRefresh: true })).accessKeyId).toBe('AKIA2');
    expect((await shared()).accessKeyId).toBe('AKIA2');
  });

  it('does not keep a failure: the next call asks again', async () => {
    let failing = true;
    const source = counting(3_600_000, () => failing);
    const shared = shareCredentials(source.provider);
    await expect(shared()).rejects.toThrow('AccessDenied');
    failing = false;
    expect((await shared()).accessKeyId).toBe('AKIA2');
  });
});
