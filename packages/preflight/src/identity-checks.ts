import type { Check, RestoreMode } from '@ec2-restore/contracts';
import { parseCaller } from './caller.ts';
import { fail, kmsLinks, pass } from './check-result.ts';
import type { PreflightFacts } from './facts.ts';

/** Who acts: the worker role, the mode, the restore role (pure checks over gathered facts). */

/** The account of the worker role vs the target account decides the mode; undefined when unknown. */
export function determineMode(facts: Pick<PreflightFacts, 'worker' | 'request'>): RestoreMode | undefined {
  const account = facts.worker.principal?.identity.accountId;
  if (account === undefined) return undefined;
  return account === facts.request.target.accountId ? 'same-account' : 'cross-account';
}

/** `worker-identity`: the worker credentials work (STS GetCallerIdentity). */
export function checkWorkerIdentity(facts: Pick<PreflightFacts, 'worker'>): Check {
  const { principal, identityError } = facts.worker;
  if (principal) {
    return pass(
      'worker-identity',
      `The workers run as ${principal.identity.arn} (account ${principal.identity.accountId}).`,
    );
  }
  return fail(
    'worker-identity',
    `The worker credentials do not work: STS GetCallerIdentity answered ${identityError?.code ?? 'an error'}: ${identityError?.message ?? 'unknown'}.`,
    {
      summary:
        'Give the workers valid AWS credentials (instance profile, AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY) and check that AWS_REGION and AWS_ENDPOINT_URL are right.',
      commands: ['aws sts get-caller-identity'],
    },
  );
}

/** `mode`: same account or another account; another account needs a restore role. */
export function checkMode(facts: Pick<PreflightFacts, 'worker' | 'request'>): Check {
  const mode = determineMode(facts);
  const target = facts.request.target.accountId;
  if (mode === undefined) {
    return fail(
      'mode',
      'The mode (same or another account) is unknown because the worker identity is unknown.',
      {
        summary: 'Fix the worker credentials first (see check worker-identity).',
      },
    );
  }
  const source = facts.worker.principal!.identity.accountId;
  if (mode === 'same-account') {
    return pass('mode', `Same account: the worker role and the target are both in account ${target}.`);
  }
  if (facts.request.target.roleArn === undefined) {
    return fail(
      'mode',
      `Another account: the workers run in ${source} and the target is ${target}, but the request names no target.roleArn to assume there.`,
      {
        summary: `Create a role in account ${target} that ${facts.worker.principal!.identity.arn} may assume, and pass its ARN as target.roleArn.`,
        links: [kmsLinks.assumeRole],
      },
    );
  }
  return pass(
    'mode',
    `Another account: the workers run in account ${source}, the instance is restored into account ${target}.`,
  );
}

/** `restore-role-assumable`: STS AssumeRole of target.roleArn (with the ExternalId) succeeded. */
export function checkRestoreRoleAssumable(
  facts: Pick<PreflightFacts, 'restoreRole' | 'worker'>,
): Check | undefined {
  const role = facts.restoreRole;
  if (!role) return undefined;
  if (role.principal) {
    return pass(
      'restore-role-assumable',
      `The worker role can assume ${role.roleArn}${role.externalId ? ' with the given ExternalId' : ''}.`,
    );
  }
  const workerArn =
    facts.worker.principal?.roleArn ??
    facts.worker.principal?.identity.arn ??
    'arn:aws:iam::SOURCE_ACCOUNT:role/WORKER_ROLE';
  const trustPrincipal = parseCaller({ arn: workerArn }).principalArn;
  const roleName = role.roleArn.split('/').at(-1) ?? '';
  const trust = {
    Version: '2012-10-17',
    Statement: [
      {
        Sid: 'WorkerRoleAssumesRestoreRole',
        Effect: 'Allow' as const,
        Principal: { AWS: trustPrincipal },
        Action: 'sts:AssumeRole',
        ...(role.externalId ? { Condition: { StringEquals: { 'sts:ExternalId': role.externalId } } } : {}),
      },
    ],
  };
  return fail(
    'restore-role-assumable',
    `The worker role cannot assume ${role.roleArn}: ${role.assumeError?.code ?? 'error'}: ${role.assumeError?.message ?? 'unknown'}.`,
    {
      summary: `Make sure ${role.roleArn} exists and its trust policy lets ${trustPrincipal} assume it${role.externalId ? ' with this ExternalId' : ''}; the worker role also needs sts:AssumeRole on it.`,
      policy: { attachTo: `trust policy of ${role.roleArn}`, statements: trust.Statement },
      commands: [
        `aws iam update-assume-role-policy --role-name ${roleName} --policy-document '${JSON.stringify(trust)}'`,
      ],
      links: [kmsLinks.assumeRole],
    },
  );
}
