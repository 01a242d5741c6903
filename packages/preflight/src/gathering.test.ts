import { describe, expect, it } from 'vitest';
import { attempt, isAwsOutage } from './gathering.ts';

/** An error as the AWS SDK throws it after its own retries. */
function awsError(name: string, httpStatusCode: number, fault: 'client' | 'server'): Error {
  return Object.assign(new Error(`${name} message`), { name, $fault: fault, $metadata: { httpStatusCode } });
}

describe('attempt: an AWS refusal becomes a fact, an AWS outage ends the plan', () => {
  it('keeps a refusal as a fact (a check can name it and its remedy)', async () => {
    const result = await attempt(() => Promise.reject(awsError('UnauthorizedOperation', 403, 'client')));
    expect(result).toEqual({
      ok: false,
      error: { code: 'UnauthorizedOperation', message: 'UnauthorizedOperation message' },
    });
  });

  it('throws throttling and 5xx answers: they say nothing about the account', async () => {
    for (const error of [
      awsError('Unavailable', 503, 'server'),
      awsError('RequestLimitExceeded', 503, 'client'),
      awsError('ThrottlingException', 400, 'client'),
      awsError('InternalError', 500, 'server'),
    ]) {
      expect(isAwsOutage(error), error.name).toBe(true);
      await expect(attempt(() => Promise.reject(error))).rejects.toBe(error);
    }
  });

  it("throws the call budget's Redis being away: the call was never sent (it is not a fact of the account)", async () => {
    const gaveUp = Object.assign(new Error('Reached the max retries per request limit (which is 1).'), {
      name: 'MaxRetriesPerRequestError',
    });
    await expect(attempt(() => Promise.reject(gaveUp))).rejects.toBe(gaveUp);
    const closed = new Error('Connection is closed.');
    await expect(attempt(() => Promise.reject(closed))).rejects.toBe(closed);
  });

  it('keeps an endpoint that does not answer as a fact (a setting to fix, named by the checks)', async () => {
    const error = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9'), { code: 'ECONNREFUSED' });
    expect(isAwsOutage(error)).toBe(false);
    expect(await attempt(() => Promise.reject(error))).toMatchObject({ ok: false });
  });

  it('keeps "not found" of a new id as a fact (not an outage)', async () => {
    const error = awsError('InvalidSubnetID.NotFound', 400, 'client');
    expect(isAwsOutage(error)).toBe(false);
    expect(await attempt(() => Promise.reject(error))).toMatchObject({ ok: false });
  });
});
