import { attachEc2CallBudget, type Ec2CallBudgetOptions } from '@ec2-restore/aws-budget';
import {
  type AwsClients,
  type AwsCredentials,
  assumeRoleCredentials,
  callerAccountOf,
  createAwsClients,
} from '@ec2-restore/aws-clients';
import type { PlanResult, RestoreRequest } from '@ec2-restore/contracts';
import { FactCache } from './fact-cache.ts';
import type { PreflightFacts, RestorePointFacts } from './facts.ts';
import { type Gathering, gatherFactsWith, type Http, workerScope } from './gather-facts.ts';
import { probeWithDryRun } from './gather-permissions.ts';
import { callerIdentity } from './gather-principal-facts.ts';
import { wasAborted } from './gathering.ts';
import { planFromFacts } from './plan-steps.ts';

export interface PreflightSessionOptions {
  /**
   * The worker role's credentials: the checks run as the principals the steps run as.
   * @defaultValue the SDK's default chain (the process's own role)
   */
  sourceCredentials?: AwsCredentials;
  /** @defaultValue `process.env.AWS_ENDPOINT_URL` */
  endpoint?: string;
  /**
   * STS session name when assuming a restore role.
   * @defaultValue "ec2-restore-preflight"
   */
  sessionName?: string;
  /**
   * Longest one plan may take gathering its facts. Past it the plan fails with
   * PreflightDeadlineError, which names the facts still outstanding, and its AWS calls are aborted.
   * @defaultValue 10000
   */
  deadlineMs?: number;
  /**
   * How long a plan waits for the DryRun probes' answers; later ones are kept for the next plan, and
   * this one decides from the IAM policies (and warns where those cannot tell). At most the deadline.
   * @defaultValue 4000
   */
  dryRunWaitMs?: number;
  /**
   * How long facts that can change (identities, role policies, keys, network) are shared between
   * plans. Only facts that would pass are kept, and a plan that fails a check drops the facts it used,
   * so a fix is seen at the next plan. 0 turns the cache off.
   * @defaultValue 30000
   */
  cacheTtlMs?: number;
  /**
   * How long facts that do not change (what an instance type is) are shared. 0 turns it off.
   * @defaultValue 600000
   */
  stableCacheTtlMs?: number;
  /**
   * The EC2 call budget (per account and region, in Redis) the workers spend from: pre-flight EC2
   * calls spend from it too, and a plan fails fast (Ec2CallBudgetTimeoutError, code Throttling)
   * rather than wait past its deadline for a token. @defaultValue no budget
   */
  ec2Budget?: Pick<Ec2CallBudgetOptions, 'redis' | 'limits'>;
  /** Called once for each new set of clients, e.g. to count AWS calls for metrics. */
  onClientsCreated?: (
    clients: AwsClients,
    scope: { accountId: string | (() => Promise<string>); region: string },
  ) => void;
}

/** A plan took longer than its deadline; nothing was created. */
export class PreflightDeadlineError extends Error {
  override readonly name = 'PreflightDeadlineError';
  constructor(
    readonly deadlineMs: number,
    /** The facts still being read when the deadline passed. */
    readonly outstanding: string[],
  ) {
    super(
      `The pre-flight checks did not finish within ${deadlineMs} ms; still waiting for AWS: ` +
        `${outstanding.length > 0 ? outstanding.join('; ') : 'nothing (the checks themselves were slow)'}. ` +
        'AWS or the network is slow or unreachable from the service; try again, and check AWS_ENDPOINT_URL ' +
        'and the network path to AWS if it persists.',
    );
  }
}

/**
 * Pre-flight for a long-lived process (the API): keeps AWS clients (sockets, assumed-role sessions)
 * per principal and region, shares slow-changing facts between plans for a short while, puts its EC2
 * calls in the shared call budget, and bounds each plan by a deadline.
 *
 * @example
 * const preflight = new PreflightSession({ sourceCredentials, ec2Budget: { redis } });
 * const { result } = await preflight.plan(request, restorePoint);
 * preflight.close();
 */
export class PreflightSession {
  private readonly clients = new Map<string, AwsClients>();
  private readonly cache = new FactCache();
  private readonly deadlineMs: number;
  private readonly ttl: Record<'changing' | 'stable', number>;

  constructor(private readonly options: PreflightSessionOptions = {}) {
    this.deadlineMs = options.deadlineMs ?? 10_000;
    if (!(this.deadlineMs > 0))
      throw new Error(`deadlineMs must be a positive number, got ${this.deadlineMs}`);
    if (options.dryRunWaitMs !== undefined && !(options.dryRunWaitMs >= 0))
      throw new Error(`dryRunWaitMs must be 0 or more, got ${options.dryRunWaitMs}`);
    this.ttl = { changing: options.cacheTtlMs ?? 30_000, stable: options.stableCacheTtlMs ?? 600_000 };
  }

  /** Gathers the facts of the checks (see gatherFactsWith), within the deadline. */
  async gatherFacts(request: RestoreRequest, restorePoint: RestorePointFacts): Promise<PreflightFacts> {
    return (await this.gather(request, restorePoint)).facts;
  }

  /**
   * The dry run of a restore: the facts, every check, and the steps. A plan that fails a check drops
   * the cached facts it used, so the plan after a fix reads AWS again.
   */
  async plan(
    request: RestoreRequest,
    restorePoint: RestorePointFacts,
  ): Promise<{ result: PlanResult; facts: PreflightFacts }> {
    const { facts, cacheKeys } = await this.gather(request, restorePoint);
    const result = planFromFacts(facts);
    if (!result.ok) for (const key of cacheKeys) this.cache.delete(key);
    return { result, facts };
  }

  /** Closes every client's sockets. */
  close(): void {
    for (const clients of this.clients.values()) clients.destroy();
    this.clients.clear();
  }

  /**
   * Readies the worker role's side before the first plan, so that plan does not pay it: builds the
   * worker role's clients for `region`, looks up the account its EC2 call budget is kept for, makes
   * one EC2 call (DescribeSnapshots with DryRun, which every worker role may make), and reads the
   * worker role's identity (STS GetCallerIdentity, which needs no permission:
   * https://docs.aws.amazon.com/STS/latest/APIReference/API_GetCallerIdentity.html), kept like any
   * other fact. The restore role's side cannot be readied: which role is a request's choice.
   * Rejects with the first failure (the plans then ask again, and report it).
   */
  async warm(region: string): Promise<void> {
    const { gathering } = this.gathering();
    const clients = gathering.workerClients(region);
    // Each client is built, and its SDK package loaded, at its first use.
    void [clients.ec2, clients.kms, clients.iam];
    await Promise.all([
      callerAccountOf(clients)(),
      callerIdentity(gathering, workerScope(region), clients).then((identity) => {
        if (!identity.ok) throw new Error(`${identity.error.code}: ${identity.error.message}`);
      }),
      // The first EC2 call of a process sets up the SDK's EC2 code (its protocol, endpoint rules,
      // the call budget's script): ~30-50 ms of the first plan's DryRun probes. A DryRun of a read
      // every worker role may make changes nothing (its answer is not kept).
      probeWithDryRun(clients.ec2, ['ec2:DescribeSnapshots'], {
        region,
        zone: () => Promise.resolve(`${region}a`),
      }),
    ]);
  }

  /** One plan's view of the session: its clients and cached facts, and what it is waiting for. */
  private gathering(): { gathering: Gathering; outstanding: Set<string>; cacheKeys: Set<string> } {
    const outstanding = new Set<string>();
    const cacheKeys = new Set<string>();
    const gathering: Gathering = {
      ...(this.options.dryRunWaitMs !== undefined ? { dryRunWaitMs: this.options.dryRunWaitMs } : {}),
      workerClients: (region) => this.workerClients(region),
      restoreRoleClients: (region, roleArn, externalId) =>
        this.restoreRoleClients(region, roleArn, externalId),
      fact: (label, cacheKey, kind, load, keep = () => true) => {
        outstanding.add(label);
        // Each load has its own deadline: a load shared with later plans must not die with this one.
        const run = () => load({ abortSignal: AbortSignal.timeout(this.deadlineMs) } satisfies Http);
        if (cacheKey) cacheKeys.add(cacheKey);
        const value = cacheKey ? this.cache.get(cacheKey, this.ttl[kind], run, keep) : run();
        // A load aborted at its deadline stays outstanding: AWS never answered it (see gather).
        return value.then(
          (result) => {
            outstanding.delete(label);
            return result;
          },
          (error: unknown) => {
            if (!wasAborted(error)) outstanding.delete(label);
            throw error;
          },
        );
      },
    };
    return { gathering, outstanding, cacheKeys };
  }

  private async gather(
    request: RestoreRequest,
    restorePoint: RestorePointFacts,
  ): Promise<{ facts: PreflightFacts; cacheKeys: Set<string> }> {
    const { gathering, outstanding, cacheKeys } = this.gathering();
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new PreflightDeadlineError(this.deadlineMs, [...outstanding])),
        this.deadlineMs,
      );
    });
    try {
      const facts = await Promise.race([gatherFactsWith(gathering, request, restorePoint), deadline]);
      return { facts, cacheKeys };
    } catch (error) {
      // A load this plan shares with an earlier plan (the fact cache) is aborted at that plan's
      // deadline, before this one's: AWS did not answer it in the deadline's time either. Answered as
      // the deadline (the API's 504 preflight_timeout), not as the abort (a 500).
      if (wasAborted(error)) throw new PreflightDeadlineError(this.deadlineMs, [...outstanding]);
      throw error;
    } finally {
      clearTimeout(timer);
    }
  }

  private workerClients(region: string): AwsClients {
    return this.cached(
      `worker|${region}`,
      () => this.make(region, this.options.sourceCredentials),
      callerAccountOf,
    );
  }

  private restoreRoleClients(region: string, roleArn: string, externalId?: string): AwsClients {
    const { sourceCredentials, endpoint } = this.options;
    return this.cached(
      `role|${region}|${roleArn}|${externalId ?? ''}`,
      () =>
        this.make(
          region,
          assumeRoleCredentials({
            region,
            roleArn,
            ...(externalId ? { externalId } : {}),
            sessionName: this.options.sessionName ?? 'ec2-restore-preflight',
            ...(sourceCredentials ? { sourceCredentials } : {}),
            ...(endpoint ? { endpoint } : {}),
          }),
        ),
      // arn:aws:iam::<account>:role/<name>: the restore role acts in its own account.
      () => roleArn.split(':')[4] ?? '',
    );
  }

  private make(region: string, credentials: AwsCredentials | undefined): AwsClients {
    return createAwsClients({
      region,
      ...(credentials ? { credentials } : {}),
      ...(this.options.endpoint ? { endpoint: this.options.endpoint } : {}),
      // One retry: a plan answers a person who is waiting; the deadline bounds the rest.
      maxAttempts: 2,
      maxSockets: 32,
    });
  }

  private cached(
    key: string,
    make: () => AwsClients,
    accountOf: (clients: AwsClients) => string | (() => Promise<string>),
  ): AwsClients {
    let clients = this.clients.get(key);
    if (!clients) {
      clients = make();
      const accountId = accountOf(clients);
      if (this.options.ec2Budget) {
        attachEc2CallBudget(clients.ec2, {
          redis: this.options.ec2Budget.redis,
          accountId,
          region: clients.options.region,
          // A token that far away would not arrive before the plan's deadline anyway.
          maxWaitMs: this.deadlineMs,
          ...(this.options.ec2Budget.limits ? { limits: this.options.ec2Budget.limits } : {}),
        });
      }
      this.options.onClientsCreated?.(clients, {
        accountId,
        region: clients.options.region,
      });
      this.clients.set(key, clients);
    }
    return clients;
  }
}

/** Where and as whom the facts are gathered, for a one-off gatherFacts() or plan(). */
export interface GatherContext {
  /**
   * The worker role's credentials: the pre-flight checks must run as the principal the steps run as.
   * @defaultValue the SDK's default chain (the process's own role)
   */
  sourceCredentials?: AwsCredentials;
  /** Alias of sourceCredentials. */
  credentials?: AwsCredentials;
  /** @defaultValue `process.env.AWS_ENDPOINT_URL` */
  endpoint?: string;
  /** What the restore point holds (from the backup repository). */
  restorePoint: RestorePointFacts;
  /**
   * STS session name when assuming the restore role.
   * @defaultValue "ec2-restore-preflight"
   */
  sessionName?: string;
  /** @defaultValue 10000 (see PreflightSessionOptions.deadlineMs) */
  deadlineMs?: number;
}

/** A session for one gathering: nothing cached, closed after. */
export async function withOneOffSession<T>(
  context: GatherContext,
  use: (session: PreflightSession) => Promise<T>,
): Promise<T> {
  const sourceCredentials = context.sourceCredentials ?? context.credentials;
  const session = new PreflightSession({
    ...(sourceCredentials ? { sourceCredentials } : {}),
    ...(context.endpoint ? { endpoint: context.endpoint } : {}),
    ...(context.sessionName ? { sessionName: context.sessionName } : {}),
    ...(context.deadlineMs !== undefined ? { deadlineMs: context.deadlineMs } : {}),
    cacheTtlMs: 0,
    stableCacheTtlMs: 0,
  });
  try {
    return await use(session);
  } finally {
    session.close();
  }
}

/**
 * Collects the facts of the pre-flight checks once, with nothing kept afterwards (the API keeps a
 * PreflightSession instead). Refusals are recorded in the facts, never thrown.
 */
export function gatherFacts(request: RestoreRequest, context: GatherContext): Promise<PreflightFacts> {
  return withOneOffSession(context, (session) => session.gatherFacts(request, context.restorePoint));
}
