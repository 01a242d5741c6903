import { randomUUID } from 'node:crypto';
import { createServer, type Server, type Socket } from 'node:net';
import { CreateRoleCommand, PutRolePolicyCommand } from '@aws-sdk/client-iam';
import { assumeRoleCredentials } from '@ec2-restore/aws-clients';
import { restoreRequestSchema } from '@ec2-restore/contracts';
import { credentialsForAccount, randomAccountId } from '@ec2-restore/local-aws';
import { PreflightDeadlineError, PreflightSession } from '@ec2-restore/preflight';
import { recordAwsCalls } from '@ec2-restore/restore-state';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { restorePoint } from '../../packages/preflight/src/test-facts.ts';
import { type Account, accountRoot, createKey, keyPolicy, newAccount, REGION } from '../support/index.ts';

/*
 * A PreflightSession (what the API keeps) against the emulator: facts shared between plans, a fix
 * seen at the next plan, a deadline instead of a hang, and EC2 reads spending the call budget.
 */

const sessions: PreflightSession[] = [];
afterEach(() => {
  for (const session of sessions.splice(0)) session.close();
});

/** A key whose policy delegates to IAM (the account root may use it, so IAM policies decide). */
async function iamDelegatedKey(account: Account): Promise<string> {
  return (await createKey(account, keyPolicy(accountRoot(account.id)))).Arn;
}

function session(options: ConstructorParameters<typeof PreflightSession>[0]): {
  session: PreflightSession;
  calls: () => string[];
} {
  const seen: string[] = [];
  const made = new PreflightSession({
    // These tests check what plans find and keep, not how long a plan waits: on a loaded machine a
    // fresh emulator account's first plan can pass the product's 10 s deadline, and DryRun answers
    // after its 4 s would reach only the next plan (from the cache) and be counted after this one.
    // The deadline tests below set their own.
    deadlineMs: 60_000,
    dryRunWaitMs: 60_000,
    ...options,
    onClientsCreated: (clients) => {
      const recorder = { recordAwsCall: async (operation: string) => void seen.push(operation) };
      for (const client of [clients.sts, clients.iam, clients.kms, clients.ec2])
        recordAwsCalls(client, recorder);
    },
  });
  sessions.push(made);
  return { session: made, calls: () => [...seen] };
}

/** A same-account restore request in a new account with its own key, and a session as that account. */
async function sameAccountPlan(restorePointId: string) {
  const account = newAccount();
  const keyArn = await iamDelegatedKey(account);
  const request = restoreRequestSchema.parse({
    restorePointId,
    target: { accountId: account.id, region: REGION, kmsKeyId: keyArn },
  });
  return { request, ...session({ sourceCredentials: credentialsForAccount(account.id) }) };
}

/**
 * A session whose AWS endpoint accepts connections and never answers, with `deadlineMs`, and a request
 * for it; the endpoint is closed after `use`.
 */
async function withSilentAws(
  deadlineMs: number,
  use: (preflight: PreflightSession, request: ReturnType<typeof restoreRequestSchema.parse>) => Promise<void>,
): Promise<void> {
  const sockets: Socket[] = [];
  const silent: Server = createServer((socket) => void sockets.push(socket));
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  const { port } = silent.address() as { port: number };
  try {
    const account = randomAccountId();
    const { session: preflight } = session({
      sourceCredentials: credentialsForAccount(account),
      endpoint: `http://127.0.0.1:${port}`,
      deadlineMs,
    });
    const request = restoreRequestSchema.parse({
      restorePointId: 'rp-session',
      target: { accountId: account, region: REGION, kmsKeyId: 'alias/restore' },
    });
    await use(preflight, request);
  } finally {
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => silent.close(() => resolve()));
  }
}

describe('PreflightSession', () => {
  it('a second plan of the same restore gives the same checks without asking AWS again', async () => {
    const { request, session: preflight, calls } = await sameAccountPlan('rp-session');

    const first = await preflight.plan(request, restorePoint);
    expect(first.result.ok).toBe(true);
    const firstCalls = calls().length;
    expect(calls()).toEqual(
      expect.arrayContaining(['STS.GetCallerIdentity', 'KMS.DescribeKey', 'EC2.DescribeInstanceTypes']),
    );

    const second = await preflight.plan(request, restorePoint);
    expect(second.result).toEqual(first.result);
    expect(calls().slice(firstCalls)).toEqual([]);
  });

  it('warm() reads who the worker role is before the first plan, which then does not ask STS again', async () => {
    const { request, session: preflight, calls } = await sameAccountPlan('rp-session-warm');
    await preflight.warm(REGION);
    expect(calls()).toEqual(expect.arrayContaining(['STS.GetCallerIdentity', 'EC2.DescribeSnapshots']));
    const warmed = calls().length;

    const plan = await preflight.plan(request, restorePoint);
    expect(plan.result.ok).toBe(true);
    expect(plan.facts.worker.principal?.identity.accountId).toBe(request.target.accountId);
    expect(calls().slice(warmed)).not.toContain('STS.GetCallerIdentity');
  });

  it('warm() rejects with what failed, and the plan then reports it as a failed check', async () => {
    const { request } = await sameAccountPlan('rp-session-warm-fails');
    const { session: preflight } = session({
      endpoint: 'http://127.0.0.1:9',
      sourceCredentials: credentialsForAccount(request.target.accountId),
    });
    await expect(preflight.warm(REGION)).rejects.toThrow(/ECONNREFUSED/);
    const plan = await preflight.plan(request, restorePoint);
    expect(plan.result.ok).toBe(false);
    expect(plan.result.checks.find((c) => c.id === 'worker-identity')?.status).toBe('fail');
  });

  it("a plan's DryRun probes, all at once on one deadline signal, raise no listener-leak warning", async () => {
    const { request, session: preflight, calls } = await sameAccountPlan('rp-session-listeners');
    const warnings: Error[] = [];
    const onWarning = (warning: Error): void => void warnings.push(warning);
    process.on('warning', onWarning);
    try {
      expect((await preflight.plan(request, restorePoint)).result.ok).toBe(true);
      // Node emits warnings on the next tick.
      await new Promise((resolve) => setImmediate(resolve));
    } finally {
      process.off('warning', onWarning);
    }
    const probes = calls().filter((c) => /^EC2\.(Create|Delete|Attach|Detach|Run|Stop|Start)/.test(c));
    expect(probes.length).toBeGreaterThan(5);
    expect(warnings.filter((w) => w.name === 'MaxListenersExceededWarning')).toEqual([]);
  });

  it('a plan that fails a check drops what it read: the plan after the fix passes', async () => {
    const account = newAccount();
    const keyArn = await iamDelegatedKey(account);
    const roleName = `worker-${randomUUID().slice(0, 8)}`;
    const role = await account.aws.iam.send(
      new CreateRoleCommand({
        RoleName: roleName,
        AssumeRolePolicyDocument: JSON.stringify({
          Version: '2012-10-17',
          Statement: [
            {
              Effect: 'Allow',
              Principal: { AWS: `arn:aws:iam::${account.id}:root` },
              Action: 'sts:AssumeRole',
            },
          ],
        }),
      }),
    );
    await account.aws.iam.send(
      new PutRolePolicyCommand({
        RoleName: roleName,
        PolicyName: 'ec2-only',
        PolicyDocument: JSON.stringify({
          Version: '2012-10-17',
          Statement: [
            { Effect: 'Allow', Action: ['ec2:*', 'ebs:*', 'iam:Get*', 'iam:List*'], Resource: '*' },
          ],
        }),
      }),
    );
    const sourceCredentials = assumeRoleCredentials({
      region: REGION,
      roleArn: role.Role!.Arn!,
      sessionName: 'worker',
      sourceCredentials: credentialsForAccount(account.id),
    });
    const request = restoreRequestSchema.parse({
      restorePointId: 'rp-session',
      target: { accountId: account.id, region: REGION, kmsKeyId: keyArn },
    });
    const { session: preflight } = session({ sourceCredentials });

    const denied = await preflight.plan(request, restorePoint);
    expect(denied.result.ok).toBe(false);
    // The emulator enforces the role's IAM policies: without kms:* it may not even describe the key.
    expect(denied.result.checks.find((c) => c.id === 'target-key.exists')?.status).toBe('fail');

    await account.aws.iam.send(
      new PutRolePolicyCommand({
        RoleName: roleName,
        PolicyName: 'kms',
        PolicyDocument: JSON.stringify({
          Version: '2012-10-17',
          Statement: [{ Effect: 'Allow', Action: 'kms:*', Resource: '*' }],
        }),
      }),
    );
    // The role's policies were read by the failed plan; had they been kept, the key access checks
    // would still judge the role by its old policies.
    const fixed = await preflight.plan(request, restorePoint);
    expect(fixed.result.checks.filter((c) => c.status === 'fail')).toEqual([]);
  });

  it('answers PreflightDeadlineError naming what is outstanding when AWS does not answer, instead of hanging', async () => {
    await withSilentAws(500, async (preflight, request) => {
      const started = Date.now();
      const error = await preflight.plan(request, restorePoint).catch((err: unknown) => err);
      expect(error).toBeInstanceOf(PreflightDeadlineError);
      expect((error as PreflightDeadlineError).outstanding).toEqual(['STS GetCallerIdentity (worker role)']);
      expect((error as Error).message).toContain('did not finish within 500 ms');
      expect(Date.now() - started).toBeLessThan(5_000);
    });
  });

  it('a plan that shares a load with an earlier plan answers PreflightDeadlineError when that load is aborted at the earlier deadline', async () => {
    // The worker role's identity is one fact for every plan of the session (the fact cache): the second
    // plan, started 250 ms later, waits on the first plan's STS call, which is aborted at the first
    // plan's deadline, 250 ms before the second's. That abort is the deadline, not an internal error
    // (the API answered 500 internal_error to it).
    await withSilentAws(500, async (preflight, request) => {
      const first = preflight.plan(request, restorePoint).catch((err: unknown) => err);
      await new Promise((resolve) => setTimeout(resolve, 250));
      const second = preflight.plan(request, restorePoint).catch((err: unknown) => err);
      for (const error of [await first, await second]) {
        expect(error).toBeInstanceOf(PreflightDeadlineError);
        expect((error as PreflightDeadlineError).outstanding).toEqual([
          'STS GetCallerIdentity (worker role)',
        ]);
      }
    });
  });

  it('spends EC2 reads from the call budget, and fails fast when the budget cannot serve it in time', async () => {
    const account = newAccount();
    const keyArn = await iamDelegatedKey(account);
    const redis = new Redis(process.env.REDIS_URL as string);
    try {
      const request = restoreRequestSchema.parse({
        restorePointId: 'rp-session',
        target: { accountId: account.id, region: REGION, kmsKeyId: keyArn },
      });
      // One token, then one every 1000 s: the plan's second EC2 read cannot be served within the
      // deadline. The deadline is far longer than a plan's reads take even on a loaded machine (a fresh
      // emulator account's first calls can take seconds), so only the budget can end this plan early.
      const deadlineMs = 30_000;
      const { session: preflight } = session({
        sourceCredentials: credentialsForAccount(account.id),
        ec2Budget: { redis, limits: { nonMutating: { burst: 1, perSecond: 0.001 } } },
        deadlineMs,
      });
      const started = Date.now();
      const error = await preflight.plan(request, restorePoint).catch((err: unknown) => err);
      // Not PreflightDeadlineError: the budget refused at once instead of waiting for a token.
      expect((error as Error).name).toBe('Ec2CallBudgetTimeoutError');
      expect((error as Error).message).toContain('call budget');
      expect(Date.now() - started).toBeLessThan(deadlineMs);
    } finally {
      redis.disconnect();
    }
  });
});
