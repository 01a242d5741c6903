import { type AwsClients, classifyAwsError, isNewResourceNotFound } from '@ec2-restore/aws-clients';
import type { AwsErrorFact } from './facts.ts';

/*
 * The machinery every fact reader of the pre-flight shares (gather-facts.ts and the gather-*-facts.ts
 * files): the plan's view of its session, whose facts a read is about, and how an AWS refusal becomes a
 * fact instead of an exception.
 */

/** Options of each AWS call: the signal that aborts it at the plan's deadline. */
export type Http = { abortSignal: AbortSignal };

/**
 * One plan's view of its session (preflight-session.ts): the clients of each principal, and `fact`,
 * through which every read goes.
 */
export interface Gathering {
  /** The worker role's clients in a region. */
  workerClients(region: string): AwsClients;
  /** The restore role's clients in a region (STS AssumeRole with the ExternalId when given). */
  restoreRoleClients(region: string, roleArn: string, externalId?: string): AwsClients;
  /** How long the plan waits for the DryRun answers (PreflightSessionOptions.dryRunWaitMs). */
  dryRunWaitMs?: number;
  /**
   * Runs `load` (its calls abort at the deadline), naming it `label` while it is outstanding. With a
   * `cacheKey`, plans share the answer for a short while (`stable`: longer) when `keep` accepts it.
   */
  fact<T>(
    label: string,
    cacheKey: string | undefined,
    kind: 'changing' | 'stable',
    load: (http: Http) => Promise<T>,
    keep?: (value: T) => boolean,
  ): Promise<T>;
}

export function errorFact(error: unknown): AwsErrorFact {
  const e = error as { name?: string; Code?: string; message?: string };
  return { code: e.Code ?? e.name ?? 'Error', message: e.message ?? String(error) };
}

/**
 * AWS throttling or a server error (5xx) still there after the SDK's retries: it says nothing about
 * the account, so it must not become a failed check with a permission remedy; the plan ends and the
 * caller may try again. An endpoint that does not answer at all (no HTTP status: connection refused,
 * DNS) is not an outage of AWS but a setting of ours or the caller's to fix, so it stays a fact the
 * checks name (the worker-identity check fails with it).
 */
export function isAwsOutage(error: unknown): boolean {
  const classified = classifyAwsError(error);
  const httpStatus = (error as { $metadata?: { httpStatusCode?: number } } | null)?.$metadata?.httpStatusCode;
  return (
    classified.category === 'throttling' ||
    (httpStatus !== undefined &&
      classified.retryable &&
      classified.category === 'aws' &&
      !isNewResourceNotFound(error))
  );
}

/**
 * ioredis gave up on a command of the EC2 call budget (its buckets live in Redis): Redis is away, and
 * the AWS call was never sent. Narrower than the API's test for Redis errors: an AWS endpoint that
 * refuses connections (ECONNREFUSED) stays a fact, see isAwsOutage.
 */
function isBudgetRedisAway(error: unknown): boolean {
  const e = error as { name?: string; message?: string } | null;
  return e?.name === 'MaxRetriesPerRequestError' || e?.message === 'Connection is closed.';
}

/** A call aborted by its deadline's signal (the SDK's AbortError, or the signal's TimeoutError). */
export function wasAborted(error: unknown): boolean {
  const name = (error as { name?: string } | null)?.name;
  return name === 'AbortError' || name === 'TimeoutError';
}

/**
 * Errors that end the whole plan instead of becoming a fact: the deadline (the call was aborted),
 * the EC2 call budget refusing to wait that long (too many calls queued for the account) or unable to
 * reach its Redis (the call was never sent: it says nothing about the account), and an AWS outage
 * ({@link isAwsOutage}).
 */
function endsThePlan(error: unknown): boolean {
  const name = (error as { name?: string } | null)?.name;
  return (
    wasAborted(error) ||
    name === 'Ec2CallBudgetTimeoutError' ||
    isBudgetRedisAway(error) ||
    isAwsOutage(error)
  );
}

/** Runs a call; an AWS error becomes a value, so one refusal does not hide the other facts. */
export async function attempt<T>(
  call: () => Promise<T>,
): Promise<{ ok: true; value: T } | { ok: false; error: AwsErrorFact }> {
  try {
    return { ok: true, value: await call() };
  } catch (error) {
    if (endsThePlan(error)) throw error;
    return { ok: false, error: errorFact(error) };
  }
}

/** Whose facts: `key` tells cached facts apart, `name` is shown in messages. */
export interface Scope {
  key: string;
  name: string;
}
