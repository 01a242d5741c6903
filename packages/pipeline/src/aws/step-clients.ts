import { attachEc2CallBudget, type Ec2CallLimits } from '@ec2-restore/aws-budget';
import {
  type AwsClients,
  type AwsCredentials,
  assumeRoleCredentials,
  callerAccountOf,
  createAwsClients,
} from '@ec2-restore/aws-clients';
import type { Redis } from 'ioredis';

/** Who a step acts as: the worker role (source account) or the restore role (target account). */
export interface StepClients {
  /** Clients of the worker role in the target region (where snapshots are written and shared). */
  source(region: string): AwsClients;
  /**
   * Clients in the target account: the worker role itself for the same account, else the restore
   * role assumed with STS AssumeRole (and ExternalId when given).
   */
  target(target: { region: string; roleArn?: string; externalId?: string; restoreId: string }): AwsClients;
  /** Closes every client made. */
  destroy(): void;
}

export interface StepClientsOptions {
  /** Worker role credentials. @defaultValue the SDK's default chain */
  credentials?: AwsCredentials;
  /** @defaultValue `process.env.AWS_ENDPOINT_URL` */
  endpoint?: string;
  /**
   * Every EC2 client made spends tokens of a budget per (account, region) kept in this Redis and
   * shared by all replicas, so many restores at once stay within AWS's EC2 request buckets
   * (docs/operations.md). @defaultValue no budget
   */
  ec2Budget?: { redis: Redis; limits?: Ec2CallLimits };
  /** Called once for each new set of clients, e.g. to count AWS calls into the shared metrics. */
  onClientsCreated?: (
    clients: AwsClients,
    scope: { accountId: string | (() => Promise<string>); region: string },
  ) => void;
}

/** Restore-role clients unused this long are closed (each restore has its own STS session). */
const IDLE_TARGET_CLIENTS_MS = 15 * 60_000;

/**
 * Clients cached per (region, role), so a worker reuses sockets. The restore role is assumed once
 * per restore, with the restore id as session name, so CloudTrail in the target account shows which
 * restore made each call; those clients are closed once idle.
 */
export function createStepClients(options: StepClientsOptions = {}): StepClients {
  const cache = new Map<string, AwsClients>();
  const lastUsed = new Map<string, number>();
  const closeIdle = (now: number) => {
    for (const [key, at] of lastUsed) {
      if (now - at < IDLE_TARGET_CLIENTS_MS) continue;
      cache.get(key)?.destroy();
      cache.delete(key);
      lastUsed.delete(key);
    }
  };
  const base = {
    // EBS direct calls of the steps go through the writer, which owns the retries (one budget per block).
    ebsMaxAttempts: 1,
    ...(options.credentials ? { credentials: options.credentials } : {}),
    ...(options.endpoint ? { endpoint: options.endpoint } : {}),
  };
  const cached = (
    key: string,
    accountOf: (clients: AwsClients) => string | (() => Promise<string>),
    make: () => AwsClients,
  ) => {
    let clients = cache.get(key);
    if (!clients) {
      clients = make();
      const accountId = accountOf(clients);
      if (options.ec2Budget) {
        attachEc2CallBudget(clients.ec2, {
          redis: options.ec2Budget.redis,
          accountId,
          region: clients.options.region,
          ...(options.ec2Budget.limits ? { limits: options.ec2Budget.limits } : {}),
        });
      }
      options.onClientsCreated?.(clients, { accountId, region: clients.options.region });
      cache.set(key, clients);
    }
    return clients;
  };
  return {
    source(region) {
      // The worker role's account is only known by asking STS (once per client set, at its first use).
      return cached(`source|${region}`, callerAccountOf, () => createAwsClients({ region, ...base }));
    },
    target({ region, roleArn, externalId, restoreId }) {
      if (!roleArn) return this.source(region);
      // arn:aws:iam::<account>:role/<name>: the restore role acts in its own account.
      const roleAccount = roleArn.split(':')[4] ?? '';
      const key = `target|${region}|${roleArn}|${externalId ?? ''}|${restoreId}`;
      const now = Date.now();
      closeIdle(now);
      lastUsed.set(key, now);
      return cached(
        key,
        () => roleAccount,
        () =>
          createAwsClients({
            region,
            ...base,
            credentials: assumeRoleCredentials({
              region,
              roleArn,
              ...(externalId ? { externalId } : {}),
              sessionName: `ec2-restore-${restoreId}`,
              ...(options.credentials ? { sourceCredentials: options.credentials } : {}),
              ...(options.endpoint ? { endpoint: options.endpoint } : {}),
            }),
          }),
      );
    },
    destroy() {
      for (const clients of cache.values()) clients.destroy();
      cache.clear();
      lastUsed.clear();
    },
  };
}
