import type { EC2Client } from '@aws-sdk/client-ec2';
import type {
  FinalizeHandler,
  FinalizeHandlerArguments,
  FinalizeRequestHandlerOptions,
  HandlerExecutionContext,
  MetadataBearer,
  RelativeMiddlewareOptions,
} from '@smithy/types';
import type { Redis } from 'ioredis';
import {
  assertValidLimits,
  classifyEc2Operation,
  type Ec2CallLimits,
  type Ec2OperationClass,
  ec2CallLimitsFromEnv,
  ec2LimitVariableNames,
  type TokenBucketLimit,
} from './ec2-call-limits.ts';
import { RedisTokenBuckets } from './token-bucket.ts';

export interface Ec2CallBudgetOptions {
  /** The Redis every replica of every service shares (the BullMQ one). */
  redis: Redis;
  /**
   * The 12-digit account whose EC2 limits the calls spend (the account of the client's credentials).
   * A function is called once, at the first call (e.g. STS GetCallerIdentity for the worker role).
   */
  accountId: string | (() => Promise<string>);
  /** The region the client calls. */
  region: string;
  /**
   * Per-class overrides of the buckets.
   * @defaultValue ec2CallLimitsFromEnv(): AWS's figures unless EC2_BUDGET_* variables say otherwise
   */
  limits?: Partial<Record<Ec2OperationClass, Partial<TokenBucketLimit>>>;
  /**
   * Prefix of the Redis keys; replicas that must share a budget use the same one.
   * @defaultValue 'ec2-restore:ec2-budget'
   */
  keyPrefix?: string;
  /**
   * Longest a call waits for its token before it fails with Ec2CallBudgetTimeoutError (code
   * `Throttling`, so the product's error classification calls it throttling and the job is retried
   * later) instead of booking a slot that far ahead.
   * @defaultValue 120000
   */
  maxWaitMs?: number;
  /** Told of every call that had to wait, for logs and metrics. */
  onWait?: (event: { operation: string; operationClass: Ec2OperationClass; waitMs: number }) => void;
}

/** A call that would have waited longer than maxWaitMs for its token; nothing was sent to AWS. */
export class Ec2CallBudgetTimeoutError extends Error {
  override readonly name = 'Ec2CallBudgetTimeoutError';
  /** Read by classifyAwsError (@ec2-restore/aws-clients): a throttling error, worth retrying later. */
  readonly code = 'Throttling';
  constructor(
    readonly operation: string,
    readonly operationClass: Ec2OperationClass,
    readonly waitMs: number,
    readonly maxWaitMs: number,
    limit: TokenBucketLimit,
  ) {
    const names = ec2LimitVariableNames(operationClass);
    super(
      `EC2 ${operation} would wait ${waitMs} ms for the ${operationClass} call budget ` +
        `(${limit.burst} burst, ${limit.perSecond}/s), longer than the ${maxWaitMs} ms allowed: ` +
        `too many calls are queued for this account and region; retry later, or raise ` +
        `${names.burst}/${names.perSecond} if the account's EC2 limits are higher`,
    );
  }
}

export interface Ec2CallBudgetStats {
  /** Calls that got a token, per class. */
  calls: Record<Ec2OperationClass, number>;
  /** Calls that had to wait for their token, per class. */
  waited: Record<Ec2OperationClass, number>;
  /** Total time spent waiting, per class. */
  waitedMs: Record<Ec2OperationClass, number>;
}

const zeroes = (): Record<Ec2OperationClass, number> => ({ mutating: 0, runInstances: 0, nonMutating: 0 });

/** The EC2 call budget of one (account, region), kept in Redis and shared by every process. */
export class Ec2CallBudget {
  readonly limits: Ec2CallLimits;
  readonly maxWaitMs: number;
  private readonly buckets: RedisTokenBuckets;
  private readonly keyPrefix: string;
  private readonly counters: Ec2CallBudgetStats = { calls: zeroes(), waited: zeroes(), waitedMs: zeroes() };

  private accountId: Promise<string> | undefined;

  constructor(private readonly options: Ec2CallBudgetOptions) {
    if (typeof options.accountId === 'string') {
      this.accountId = Promise.resolve(checkAccountId(options.accountId));
    }
    if (!options.region) throw new Error('region is required: the region the EC2 client calls');
    const base = ec2CallLimitsFromEnv();
    this.limits = {
      mutating: { ...base.mutating, ...options.limits?.mutating },
      runInstances: { ...base.runInstances, ...options.limits?.runInstances },
      nonMutating: { ...base.nonMutating, ...options.limits?.nonMutating },
    };
    assertValidLimits(this.limits);
    this.maxWaitMs = options.maxWaitMs ?? 120_000;
    this.keyPrefix = options.keyPrefix ?? 'ec2-restore:ec2-budget';
    this.buckets = new RedisTokenBuckets(options.redis);
  }

  /** The Redis key of a class's bucket. */
  async bucketKey(operationClass: Ec2OperationClass): Promise<string> {
    const accountId = await this.resolveAccountId();
    return `${this.keyPrefix}:${accountId}:${this.options.region}:${operationClass}`;
  }

  private resolveAccountId(): Promise<string> {
    if (!this.accountId) {
      const lookup = this.options.accountId as () => Promise<string>;
      this.accountId = lookup().then(checkAccountId);
      // A failed lookup is tried again at the next call rather than remembered.
      this.accountId.catch(() => {
        this.accountId = undefined;
      });
    }
    return this.accountId;
  }

  /**
   * Waits until `operation` (an EC2 action or SDK command name) may be sent. Throws
   * Ec2CallBudgetTimeoutError, having taken nothing, when the wait would exceed maxWaitMs.
   */
  async acquire(operation: string, signal?: AbortSignal): Promise<{ waitedMs: number }> {
    const operationClass = classifyEc2Operation(operation);
    const limit = this.limits[operationClass];
    const booked = await this.buckets.reserve(await this.bucketKey(operationClass), limit, {
      maxWaitMs: this.maxWaitMs,
    });
    if (!booked.granted) {
      throw new Ec2CallBudgetTimeoutError(operation, operationClass, booked.waitMs, this.maxWaitMs, limit);
    }
    this.counters.calls[operationClass]++;
    if (booked.waitMs > 0) {
      this.counters.waited[operationClass]++;
      this.counters.waitedMs[operationClass] += booked.waitMs;
      this.options.onWait?.({ operation, operationClass, waitMs: booked.waitMs });
      await sleep(booked.waitMs, signal);
    }
    return { waitedMs: booked.waitMs };
  }

  /**
   * Whether `operation`'s bucket holds at least `share` of its burst now: room for a call that is
   * not needed yet (a wait that looks sooner than it must), left to the others when it is lower.
   */
  async hasRoom(operation: string, share = 0.5): Promise<boolean> {
    const operationClass = classifyEc2Operation(operation);
    const limit = this.limits[operationClass];
    // Refilled up to now by Redis' clock, as every booking is, and nothing taken: this host's clock
    // running ahead must not make room that the bucket does not have.
    const { tokens } = await this.buckets.reserve(await this.bucketKey(operationClass), limit, { cost: 0 });
    return tokens >= limit.burst * share;
  }

  /** What this process has spent and waited so far (the bucket itself is shared). */
  stats(): Ec2CallBudgetStats {
    return structuredClone(this.counters);
  }
}

function checkAccountId(accountId: string): string {
  if (!/^\d{12}$/.test(accountId)) {
    throw new Error(`accountId must be the 12-digit AWS account id, got ${JSON.stringify(accountId)}`);
  }
  return accountId;
}

/** Builds the budget of one (account, region); see attachEc2CallBudget to put it on a client. */
export function createEc2CallBudget(options: Ec2CallBudgetOptions): Ec2CallBudget {
  return new Ec2CallBudget(options);
}

export const EC2_CALL_BUDGET_MIDDLEWARE = 'ec2CallBudgetMiddleware';

const budgetOfClient = new WeakMap<EC2Client, Ec2CallBudget>();

/** The budget attachEc2CallBudget put on `client`, if any. */
export function ec2CallBudgetOf(client: EC2Client): Ec2CallBudget | undefined {
  return budgetOfClient.get(client);
}

/**
 * Makes every request of `client` wait for a token of the shared budget. The middleware sits inside
 * the SDK's retry loop (after retryMiddleware, before signing), so each attempt, retries included,
 * spends a token: AWS counts every request against its bucket, retried or not. Backing off on a
 * RequestLimitExceeded that still happens (other tools spend from the same AWS bucket) stays the job
 * of the SDK's standard retry mode (exponential backoff with jitter, 500 ms base for throttling).
 * Attaching twice replaces the first budget. Returns the budget, for its stats.
 */
export function attachEc2CallBudget(
  client: EC2Client,
  budgetOrOptions: Ec2CallBudget | Ec2CallBudgetOptions,
): Ec2CallBudget {
  const budget =
    budgetOrOptions instanceof Ec2CallBudget ? budgetOrOptions : createEc2CallBudget(budgetOrOptions);
  const middleware =
    <Output extends MetadataBearer>(
      next: FinalizeHandler<object, Output>,
      context: HandlerExecutionContext,
    ) =>
    async (args: FinalizeHandlerArguments<object>) => {
      await budget.acquire(context.commandName ?? 'UnknownOperation');
      return next(args);
    };
  const placement: RelativeMiddlewareOptions & Pick<FinalizeRequestHandlerOptions, 'tags'> = {
    name: EC2_CALL_BUDGET_MIDDLEWARE,
    relation: 'before',
    toMiddleware: 'httpSigningMiddleware',
    override: true,
    tags: ['EC2_CALL_BUDGET'],
  };
  client.middlewareStack.addRelativeTo(middleware as never, placement);
  budgetOfClient.set(client, budget);
  return budget;
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(
        Object.assign(new Error('Request aborted while waiting for the EC2 call budget'), {
          name: 'AbortError',
        }),
      );
      return;
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(
        Object.assign(new Error('Request aborted while waiting for the EC2 call budget'), {
          name: 'AbortError',
        }),
      );
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
