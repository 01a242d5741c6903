import { describe, expect, it } from 'vitest';
import { callerAccountOf } from './caller-account.ts';
import type { AwsClients } from './client-factory.ts';

/** A client set whose STS answers GetCallerIdentity from `answers`, in turn, counting the calls. */
function clientsAnswering(answers: (() => Promise<{ Account: string }>)[]) {
  let calls = 0;
  const sts = { send: () => answers[calls++]!() };
  return { clients: { sts } as unknown as AwsClients, calls: () => calls };
}

describe('callerAccountOf', () => {
  it('asks STS once per client set, however many ask and however often', async () => {
    const one = clientsAnswering([async () => ({ Account: '111111111111' })]);
    const asks = [callerAccountOf(one.clients), callerAccountOf(one.clients)];
    expect(await Promise.all([...asks.map((ask) => ask()), asks[0]!()])).toEqual(
      Array(3).fill('111111111111'),
    );
    expect(one.calls()).toBe(1);

    const other = clientsAnswering([async () => ({ Account: '222222222222' })]);
    expect(await callerAccountOf(other.clients)()).toBe('222222222222');
  });

  it('asks again after a failure', async () => {
    const flaky = clientsAnswering([
      async () => Promise.reject(new Error('ThrottlingException')),
      async () => ({ Account: '111111111111' }),
    ]);
    const ask = callerAccountOf(flaky.clients);
    await expect(ask()).rejects.toThrow('ThrottlingException');
    expect(await ask()).toBe('111111111111');
    expect(flaky.calls()).toBe(2);
  });
});
