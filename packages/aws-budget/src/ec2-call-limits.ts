/**
 * How fast ec2-restore may call EC2, per (account, region, operation class).
 *
 * AWS throttles EC2 API requests per account and per region with token buckets: a bucket holds up to
 * `burst` tokens, each request takes one, and `perSecond` tokens come back every second; a request
 * that finds the bucket empty fails with RequestLimitExceeded.
 * https://docs.aws.amazon.com/ec2/latest/devguide/ec2-api-throttling.html
 *
 * The page confirms the algorithm, that it is per account and per region, and its example bucket for
 * a non-mutating action (DescribeHosts: 100 tokens, 20 per second), used here for every Describe/Get.
 * For mutating actions (CreateVolume, CreateSnapshot, ModifySnapshotAttribute, AttachVolume,
 * DeleteSnapshot: 100 tokens, 5 per second) and RunInstances (5 tokens, 2 per second) the defaults are
 * the figures of the product's issue 6, which the page's per-action table should be checked against
 * (an account can also have had its limits raised): every figure is configurable (environment, below).
 * Every operation of a class shares one bucket here, which is stricter than AWS (AWS keeps a bucket
 * per API): the budget keeps this product inside the account's limits with room to spare, because
 * other tools of the same account spend from AWS's buckets too.
 */

/** The groups of EC2 operations that share a bucket. */
export type Ec2OperationClass = 'mutating' | 'runInstances' | 'nonMutating';

export const ec2OperationClasses: readonly Ec2OperationClass[] = ['mutating', 'runInstances', 'nonMutating'];

export interface TokenBucketLimit {
  /** Most tokens the bucket holds: the calls that may go out at once after a quiet period. */
  burst: number;
  /** Tokens added per second: the sustained call rate. */
  perSecond: number;
}

export type Ec2CallLimits = Record<Ec2OperationClass, TokenBucketLimit>;

/** AWS's default request-token buckets (see the link at the top of this file). */
export const AWS_EC2_DEFAULT_LIMITS: Ec2CallLimits = {
  mutating: { burst: 100, perSecond: 5 },
  runInstances: { burst: 5, perSecond: 2 },
  nonMutating: { burst: 100, perSecond: 20 },
};

/**
 * Which bucket an EC2 operation spends from. `operation` is the API action (`CreateVolume`) or the SDK
 * command name (`CreateVolumeCommand`). Describe and Get actions read; everything else changes state.
 */
export function classifyEc2Operation(operation: string): Ec2OperationClass {
  const action = operation.endsWith('Command') ? operation.slice(0, -'Command'.length) : operation;
  if (action === 'RunInstances') return 'runInstances';
  if (/^(Describe|Get|List|Search)[A-Z]/.test(action)) return 'nonMutating';
  return 'mutating';
}

const ENV_NAMES: Record<Ec2OperationClass, string> = {
  mutating: 'MUTATING',
  runInstances: 'RUN_INSTANCES',
  nonMutating: 'NON_MUTATING',
};

/** The environment variables that override each class's bucket, e.g. `EC2_BUDGET_MUTATING_BURST`. */
export function ec2LimitVariableNames(cls: Ec2OperationClass): { burst: string; perSecond: string } {
  return {
    burst: `EC2_BUDGET_${ENV_NAMES[cls]}_BURST`,
    perSecond: `EC2_BUDGET_${ENV_NAMES[cls]}_PER_SECOND`,
  };
}

/**
 * The limits in force: AWS's defaults, overridden by `EC2_BUDGET_<CLASS>_BURST` and
 * `EC2_BUDGET_<CLASS>_PER_SECOND` (CLASS = MUTATING, RUN_INSTANCES, NON_MUTATING). Throws an error
 * that names the variable when a value is not a positive number.
 */
export function ec2CallLimitsFromEnv(env: Record<string, string | undefined> = process.env): Ec2CallLimits {
  const limits = structuredClone(AWS_EC2_DEFAULT_LIMITS);
  for (const cls of ec2OperationClasses) {
    const names = ec2LimitVariableNames(cls);
    const burst = readPositive(env, names.burst);
    const perSecond = readPositive(env, names.perSecond);
    if (burst !== undefined) limits[cls].burst = burst;
    if (perSecond !== undefined) limits[cls].perSecond = perSecond;
  }
  return limits;
}

function readPositive(env: Record<string, string | undefined>, name: string): number | undefined {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return undefined;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0) {
    throw new Error(
      `${name}=${JSON.stringify(raw)} is not a positive number; set it to a number of EC2 calls ` +
        "(e.g. 100 for a burst, 5 for calls per second) or unset it to use AWS's default",
    );
  }
  return value;
}

/** Checks limits given in code (not from the environment) with the same rule. */
export function assertValidLimits(limits: Ec2CallLimits): void {
  for (const cls of ec2OperationClasses) {
    const limit = limits[cls];
    for (const field of ['burst', 'perSecond'] as const) {
      const value = limit[field];
      if (!Number.isFinite(value) || value <= 0) {
        throw new Error(`limits.${cls}.${field} must be a positive number, got ${String(value)}`);
      }
    }
    if (limit.burst < 1) {
      throw new Error(`limits.${cls}.burst must be at least 1 (one call), got ${limit.burst}`);
    }
  }
}
