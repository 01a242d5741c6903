import { credentialsForAccount } from '@ec2-restore/local-aws';
import { afterEach, describe, expect, it } from 'vitest';
import {
  type Account,
  type ApiHarness,
  accountRoot,
  adminOnly,
  allowEbsUse,
  createKey,
  createRestoreRole,
  EBS_KEY_ACTIONS,
  keyPolicy,
  newAccount,
  REGION,
  resourcesOf,
  setEbsDefaultKey,
  startApi,
} from '../support/index.ts';

interface Check {
  id: string;
  status: 'pass' | 'fail' | 'warn';
  message: string;
  remedy: { summary: string; policy?: unknown; commands?: string[] } | null;
}
interface ErrorBody {
  error: {
    code: string;
    message: string;
    category: string;
    details: { checks?: Check[]; failed?: string[] };
  };
}

let api: ApiHarness | undefined;
afterEach(async () => {
  await api?.close();
  api = undefined;
});

/**
 * The restore role's identity policy: EC2 and what EBS needs of keys. A principal using a key of
 * another account needs its own IAM policy to allow it as well as the key policy
 * (https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-modifying-external-accounts.html);
 * which keys is then up to the key policies.
 */
const EC2_AND_EBS_KEY_USE = JSON.stringify({
  Version: '2012-10-17',
  Statement: [{ Effect: 'Allow', Action: ['ec2:*', ...EBS_KEY_ACTIONS], Resource: '*' }],
});

/** A cross-account setup where everything is right except what the test breaks. */
async function crossAccount(options: {
  sourceDefaultKey: 'aws/ebs' | 'customer';
  targetKeyAllowsRole: boolean;
  roleTrustsSource: boolean;
  preflightDeadlineMs?: number;
}) {
  const source = newAccount();
  const target = newAccount();
  const stranger = newAccount();
  const trusted = options.roleTrustsSource ? source.id : stranger.id;
  const roleArn = await createRestoreRole(target, trusted, undefined, EC2_AND_EBS_KEY_USE);
  const { Arn: targetKeyArn } = await createKey(
    target,
    keyPolicy(
      adminOnly(target.id),
      allowEbsUse(options.targetKeyAllowsRole ? [roleArn] : [`arn:aws:iam::${target.id}:role/KeyAdmin`]),
    ),
  );
  if (options.sourceDefaultKey === 'customer') {
    const { Arn: sourceKeyArn } = await createKey(
      source,
      keyPolicy(accountRoot(source.id), allowEbsUse([roleArn])),
    );
    await setEbsDefaultKey(source, sourceKeyArn);
  }
  api = await startApi({
    workerCredentials: credentialsForAccount(source.id),
    ...(options.preflightDeadlineMs ? { preflightDeadlineMs: options.preflightDeadlineMs } : {}),
  });
  const request = {
    restorePointId: api.restorePointId,
    target: { accountId: target.id, region: REGION, roleArn, kmsKeyId: targetKeyArn },
  };
  return { source, target, roleArn, targetKeyArn, request, api };
}

interface PlanBody {
  ok: boolean;
  mode: string;
  checks: Check[];
}

/** POST /v1/restores/plan: 200 with the checks (any other answer fails the test with its body). */
async function planOf(harness: ApiHarness, request: unknown): Promise<PlanBody> {
  const res = await harness.post('/v1/restores/plan', request);
  const text = await res.text();
  expect(res.status, text).toBe(200);
  return JSON.parse(text) as PlanBody;
}

async function expectNothingCreated(harness: ApiHarness, ...accounts: Account[]) {
  expect(await harness.store.list()).toEqual([]);
  expect(await harness.jobCount()).toBe(0);
  for (const account of accounts) {
    expect(await resourcesOf(account)).toEqual({ volumes: 0, snapshots: 0, instances: 0 });
  }
}

/** A cross-account setup with something broken: POST /v1/restores answers 422; its error body. */
async function refused(options: Parameters<typeof crossAccount>[0]) {
  const setup = await crossAccount(options);
  const res = await setup.api.post('/v1/restores', setup.request);
  const text = await res.text();
  expect(res.status, text).toBe(422);
  return { ...setup, body: JSON.parse(text) as ErrorBody };
}

describe('pre-flight checks refuse a restore that cannot work, before anything is created', () => {
  it('source default key aws/ebs: 422 naming the check and the remedy; /plan says ok=false', async () => {
    const { source, target, api, body, request } = await refused({
      sourceDefaultKey: 'aws/ebs',
      targetKeyAllowsRole: true,
      roleTrustsSource: true,
    });
    expect(body.error.code).toBe('preflight_failed');
    expect(body.error.message).toContain('source-default-key.customer-managed');
    const check = body.error.details.checks?.find((c) => c.id === 'source-default-key.customer-managed');
    expect(check?.status).toBe('fail');
    expect(check?.message).toMatch(/aws\/ebs/);
    expect(check?.remedy?.summary).toMatch(/customer managed key/i);
    expect(JSON.stringify(check?.remedy)).toMatch(/modify-ebs-default-kms-key-id|ModifyEbsDefaultKmsKeyId/i);
    await expectNothingCreated(api, source, target);

    const metrics = await (await api.call('/metrics')).text();
    expect(metrics).toContain(
      'ec2restore_preflight_failures_total{check="source-default-key.customer-managed"} 1',
    );

    const result = await planOf(api, request);
    expect(result.ok).toBe(false);
    expect(result.mode).toBe('cross-account');
    expect(result.checks.find((c) => c.id === 'source-default-key.customer-managed')?.status).toBe('fail');
    await expectNothingCreated(api, source, target);
  });

  it('target key policy without the restore role: 422 with the target key access check', async () => {
    const { source, target, api, roleArn, targetKeyArn, body } = await refused({
      sourceDefaultKey: 'customer',
      targetKeyAllowsRole: false,
      roleTrustsSource: true,
    });
    // The restore role may not even describe the key: the failing check is about the target key and
    // names the restore role; its remedy is the key policy.
    expect(body.error.details.failed).toHaveLength(1);
    const failedId = body.error.details.failed?.[0] ?? '';
    expect(['target-key.exists', 'target-key.access.restore-role']).toContain(failedId);
    const check = body.error.details.checks?.find((c) => c.id === failedId);
    expect(check?.message).toContain(roleArn.split('/')[1]);
    expect(check?.message).toContain(targetKeyArn);
    expect(check?.remedy?.summary).toMatch(/key policy/i);
    await expectNothingCreated(api, source, target);
  });

  it('restore role trust policy refusing the source account: 422 with the assume-role check', async () => {
    const { source, target, api, body } = await refused({
      sourceDefaultKey: 'customer',
      targetKeyAllowsRole: true,
      roleTrustsSource: false,
    });
    expect(body.error.details.failed).toContain('restore-role-assumable');
    const check = body.error.details.checks?.find((c) => c.id === 'restore-role-assumable');
    expect(check?.message).toMatch(/AccessDenied|trust/i);
    expect(check?.remedy?.summary).toMatch(/trust/i);
    await expectNothingCreated(api, source, target);
  });

  it('the same request with everything right passes /plan and is queued', async () => {
    const { request, api } = await crossAccount({
      sourceDefaultKey: 'customer',
      targetKeyAllowsRole: true,
      roleTrustsSource: true,
    });
    const plan = await planOf(api, request);
    expect(plan.checks.filter((c) => c.status === 'fail')).toEqual([]);
    expect(plan.ok).toBe(true);
    const res = await api.post('/v1/restores', request);
    expect(res.status).toBe(202);
    const restore = (await res.json()) as {
      id: string;
      mode: string;
      status: string;
      steps: { name: string }[];
    };
    expect(restore).toMatchObject({ mode: 'cross-account', status: 'queued' });
    expect(restore.steps.map((step) => step.name)).toEqual([
      'snapshot:/dev/xvda',
      'snapshot:/dev/xvdb',
      'snapshot:/dev/xvdc',
      'share',
      'instance',
    ]);
    // One flow: the instance job, the share job and one snapshot job per volume.
    expect(await api.jobCount()).toBe(5);
    const metrics = await (await api.call('/metrics')).text();
    expect(metrics).toContain('ec2restore_restores_created_total{mode="cross-account"} 1');
    expect(metrics).toContain('ec2restore_restores{status="queued"} 1');
    expect(metrics).toMatch(
      /ec2restore_aws_calls_total\{operation="STS.GetCallerIdentity",account="\d{12}",region="eu-west-1"\} [1-9]/,
    );
  });
  it('a plan that runs out of time answers 504 preflight_timeout naming what AWS had not answered, never a pass', async () => {
    // A deadline no plan can meet (each fact is at least one HTTP round trip to AWS).
    const { source, target, request, api } = await crossAccount({
      sourceDefaultKey: 'customer',
      targetKeyAllowsRole: true,
      roleTrustsSource: true,
      preflightDeadlineMs: 1,
    });
    for (const path of ['/v1/restores/plan', '/v1/restores']) {
      const res = await api.post(path, request);
      const body = (await res.json()) as ErrorBody & { ok?: boolean; checks?: unknown };
      expect(res.status, path).toBe(504);
      expect(body.ok).toBeUndefined();
      expect(body.checks).toBeUndefined();
      expect(body.error.code).toBe('preflight_timeout');
      expect(body.error.message).toMatch(/did not finish within 1 ms; still waiting for AWS: .*STS/);
      expect(body.error.message).toMatch(/try again/);
      expect(body.error.details).toMatchObject({ deadlineMs: 1, outstanding: expect.any(Array) });
    }
    await expectNothingCreated(api, source, target);
  });
});
