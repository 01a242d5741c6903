import type { Redis } from 'ioredis';
import { IllegalTransitionError, RestoreExistsError, RestoreNotFoundError } from './errors.ts';
import { scorePages } from './index-pages.ts';
import {
  createScript,
  progressScript,
  runScript,
  stepScript,
  transitionScript,
  verifyProgressScript,
} from './lua-scripts.ts';
import { RestoreEventHub, type RestoreEventHubOptions } from './restore-event-hub.ts';
import { RestoreKeys } from './restore-keys.ts';
import { assertByteCount, parseMetrics, readRestores, stepKind } from './restore-record.ts';
import type {
  AwsCallScope,
  CreateOutcome,
  IdempotencyMatch,
  IdempotencyOptions,
  ListOptions,
  RestoreStoreOptions,
  SharedMetrics,
  SubscribeOptions,
} from './store-options.ts';
import { isTerminal, statusesLeadingTo } from './transitions.ts';
import {
  type FinishedStepStatus,
  type NewRestore,
  type Restore,
  type RestoreError,
  type RestoreEvent,
  type RestoreResult,
  type RestoreStatus,
  restoreStatuses,
} from './types.ts';

export type * from './store-options.ts';

const DEFAULT_IDEMPOTENCY_TTL_SECONDS = 24 * 60 * 60;

/**
 * The restore record of docs/architecture.md#the-public-interface, kept in Redis, and its event stream.
 *
 * Every update is one Lua script, atomic across processes: the API creates and cancels, the
 * workers (one snapshot job per volume, concurrently) record steps, attempts, progress and the end.
 * Each change appends an event to a per-restore Redis stream that {@link RestoreStore.subscribe}
 * reads from any process.
 *
 * Keys: see {@link RestoreKeys}.
 */
export class RestoreStore {
  private readonly keys: RestoreKeys;
  private readonly now: () => Date;
  private readonly eventHubOptions: RestoreEventHubOptions;
  private events: RestoreEventHub | undefined;

  /**
   * @param redis - a connection used for commands; {@link RestoreStore.subscribe} duplicates it once
   *   for the blocking reads of every subscription, so this one is never blocked.
   */
  constructor(
    private readonly redis: Redis,
    options: RestoreStoreOptions = {},
  ) {
    this.keys = new RestoreKeys(options.prefix ?? 'ec2-restore:');
    this.now = options.now ?? (() => new Date());
    this.eventHubOptions = options.events ?? {};
  }

  /**
   * Stores a new restore in status `queued`, with its known steps `pending` and its known volumes at
   * zero bytes done. With `idempotency`, creation and the key's reservation are one atomic step:
   * a key seen before yields the first restore's id (`existing` for the same body, `conflict`
   * otherwise) and creates nothing.
   *
   * @throws RestoreExistsError when a restore with this id exists already.
   */
  async create<Request>(
    restore: NewRestore<Request>,
    idempotency?: IdempotencyOptions,
  ): Promise<CreateOutcome<Request>> {
    const createdAt = this.now();
    const steps = restore.steps ?? [];
    const volumes = restore.volumes ?? [];
    const reply = await runScript(
      this.redis,
      createScript,
      [
        this.keys.record(restore.id),
        this.keys.progress(restore.id),
        this.keys.index('all'),
        this.keys.index('queued'),
        this.keys.idempotency(idempotency?.key ?? ''),
      ],
      [
        restore.id,
        createdAt.toISOString(),
        createdAt.getTime(),
        restore.mode,
        JSON.stringify(restore.request),
        idempotency?.bodyHash ?? '',
        idempotency?.ttlSeconds ?? DEFAULT_IDEMPOTENCY_TTL_SECONDS,
        steps.length,
        ...steps,
        volumes.length,
        ...volumes.flatMap((volume) => [volume.deviceName, volume.bytesTotal]),
      ],
    );
    if (reply[0] === 'exists') throw new RestoreExistsError(restore.id);
    if (reply[0] === 'existing') {
      const stored = reply[1] ?? '';
      const separator = stored.indexOf(' ');
      const storedHash = stored.slice(0, separator);
      const restoreId = stored.slice(separator + 1);
      return { outcome: storedHash === idempotency?.bodyHash ? 'existing' : 'conflict', restoreId };
    }
    const created = await this.get<Request>(restore.id);
    if (created === null) throw new RestoreNotFoundError(restore.id);
    return { outcome: 'created', restore: created };
  }

  /**
   * Looks up an idempotency key without reserving it: the restore it names and whether the body
   * matches, or null when the key is unused (or expired).
   */
  async findIdempotencyKey(key: string, bodyHash: string): Promise<IdempotencyMatch | null> {
    const stored = await this.redis.get(this.keys.idempotency(key));
    if (stored === null) return null;
    const separator = stored.indexOf(' ');
    const restoreId = stored.slice(separator + 1);
    return { outcome: stored.slice(0, separator) === bodyHash ? 'existing' : 'conflict', restoreId };
  }

  /** The restore, or null when there is none with this id. */
  async get<Request = unknown>(id: string): Promise<Restore<Request> | null> {
    return (await readRestores<Request>(this.redis, this.keys, [id]))[0] ?? null;
  }

  /** The current status only (cheap; workers call it between steps to notice a cancel). */
  async getStatus(id: string): Promise<RestoreStatus | null> {
    return (await this.redis.hget(this.keys.record(id), 'status')) as RestoreStatus | null;
  }

  /** The newest restores first, optionally only those in one status. */
  async list<Request = unknown>(options: ListOptions = {}): Promise<Restore<Request>[]> {
    const limit = options.limit ?? 50;
    const ids = await this.redis.zrevrange(this.keys.index(options.status ?? 'all'), 0, limit - 1);
    return readRestores<Request>(this.redis, this.keys, ids);
  }

  /**
   * Ids of the restores in `status` created at or before `createdUpToMs`, oldest first, a page of
   * `pageSize` at a time (one Redis call per page; memory bounded by the page however many there are).
   */
  idPages(status: RestoreStatus, createdUpToMs: number, pageSize = 100): AsyncGenerator<string[]> {
    return scorePages(this.redis, this.keys.index(status), createdUpToMs, pageSize);
  }

  /** The restores of `ids` that exist, in that order, read in one round trip. */
  async getMany<Request = unknown>(ids: readonly string[]): Promise<Restore<Request>[]> {
    return readRestores<Request>(this.redis, this.keys, ids);
  }

  /**
   * Marks a step running and counts one attempt (do not call {@link RestoreStore.recordAttempt} as
   * well). Steps not declared at creation are added in the order they first appear. The first step
   * started moves a queued restore to running.
   *
   * @returns the step's attempt count including this one.
   * @throws RestoreNotFoundError
   */
  async startStep(id: string, stepName: string): Promise<number> {
    return this.changeStep(id, 'start', stepName);
  }

  /**
   * Ends a step with the given status and its finish time.
   * @throws RestoreNotFoundError
   */
  async finishStep(id: string, stepName: string, status: FinishedStepStatus): Promise<void> {
    await this.changeStep(id, 'finish', stepName, status);
  }

  /**
   * Counts one more attempt of a step without changing its status (for retries that do not go
   * through {@link RestoreStore.startStep}).
   * @returns the step's attempt count including this one.
   */
  async recordAttempt(id: string, stepName: string): Promise<number> {
    return this.changeStep(id, 'attempt', stepName);
  }

  /**
   * Sets the bytes written so far for one volume (and its size when known). Each call appends a
   * progress event, so call it at a bounded rate (e.g. every few MiB or every second), not per block.
   * @throws RestoreNotFoundError
   */
  async setVolumeProgress(
    id: string,
    deviceName: string,
    bytesDone: number,
    bytesTotal?: number,
  ): Promise<void> {
    assertByteCount('bytesDone', bytesDone);
    if (bytesTotal !== undefined) assertByteCount('bytesTotal', bytesTotal);
    const reply = await runScript(
      this.redis,
      progressScript,
      [this.keys.record(id), this.keys.progress(id), this.keys.events(id), this.keys.metrics()],
      [deviceName, bytesDone, bytesTotal ?? '', this.now().toISOString()],
    );
    if (reply[0] === 'missing') throw new RestoreNotFoundError(id);
  }

  /**
   * Sets the bytes of one volume read back and found equal to the restore point (verified restores),
   * which puts the volume in the `verify` phase. Same rate advice as {@link setVolumeProgress}.
   * @throws RestoreNotFoundError
   */
  async setVolumeVerified(id: string, deviceName: string, bytesVerified: number): Promise<void> {
    assertByteCount('bytesVerified', bytesVerified);
    const reply = await runScript(
      this.redis,
      verifyProgressScript,
      [this.keys.record(id), this.keys.progress(id), this.keys.events(id), this.keys.metrics()],
      [deviceName, bytesVerified, this.now().toISOString()],
    );
    if (reply[0] === 'missing') throw new RestoreNotFoundError(id);
  }

  /**
   * Keeps the restore's result (the instance step's) while the restore still runs: not shown until
   * {@link RestoreStore.succeed} (a restore succeeds only after its cleanup).
   * @throws RestoreNotFoundError
   */
  async holdResult(id: string, result: RestoreResult): Promise<void> {
    if ((await this.getStatus(id)) === null) throw new RestoreNotFoundError(id);
    await this.redis.hset(this.keys.record(id), 'heldResult', JSON.stringify(result));
  }

  /**
   * Ends the restore as succeeded with its result: the one given, else the one held by
   * {@link RestoreStore.holdResult}.
   * @throws IllegalTransitionError unless the restore is running.
   */
  async succeed(id: string, result?: RestoreResult): Promise<void> {
    await this.transition(id, 'succeeded', result ? { result } : {});
  }

  /**
   * Ends the restore as failed with the error (from queued, running or cancelling).
   * @throws IllegalTransitionError when the restore has ended already.
   */
  async fail(id: string, error: RestoreError): Promise<void> {
    await this.transition(id, 'failed', { error });
  }

  /**
   * Moves the restore to another status: queued → running | cancelling | cancelled | failed;
   * running → succeeded | failed | cancelling; cancelling → cancelled | failed. Setting the
   * current status again is a no-op.
   *
   * @returns the status the restore had before.
   * @throws IllegalTransitionError for any other change (a terminal status never changes).
   * @throws RestoreNotFoundError
   */
  async setStatus(id: string, status: RestoreStatus): Promise<RestoreStatus> {
    return this.transition(id, status, {});
  }

  /**
   * Calls `onEvent` for each event of the restore, in order, across processes: first the history
   * kept (unless `after` says otherwise), then new events as they happen. Every subscription of
   * this store shares one Redis connection for its blocking reads ({@link RestoreEventHub}); if
   * Redis stays unreachable too long, `onError` ends the subscription.
   *
   * @returns a function that stops the subscription.
   */
  subscribe(
    id: string,
    onEvent: (event: RestoreEvent) => void,
    options: SubscribeOptions = {},
  ): () => Promise<void> {
    this.events ??= new RestoreEventHub(this.redis, this.eventHubOptions);
    const stop = this.events.subscribe(this.keys.events(id), {
      after: options.after ?? '0',
      onEvent,
      onError: options.onError ?? (() => {}),
    });
    return async () => stop();
  }

  /** Open subscriptions of this store (all of them share one Redis connection). */
  get subscriptionCount(): number {
    return this.events?.size ?? 0;
  }

  /** Ends every subscription and closes the connection they share. */
  async closeSubscriptions(): Promise<void> {
    await this.events?.close();
    this.events = undefined;
  }

  private async transition(
    id: string,
    to: RestoreStatus,
    fields: { result?: RestoreResult; error?: RestoreError },
  ): Promise<RestoreStatus> {
    const reply = await runScript(
      this.redis,
      transitionScript,
      [
        this.keys.record(id),
        this.keys.events(id),
        ...restoreStatuses.map((status) => this.keys.index(status)),
      ],
      [
        to,
        statusesLeadingTo(to).join(' '),
        this.now().toISOString(),
        fields.result ? JSON.stringify(fields.result) : '',
        fields.error ? JSON.stringify(fields.error) : '',
        isTerminal(to) ? '1' : '0',
        ...restoreStatuses,
      ],
    );
    const [outcome, previous] = reply as [string, RestoreStatus | undefined];
    if (outcome === 'missing' || previous === undefined) throw new RestoreNotFoundError(id);
    if (outcome === 'illegal') throw new IllegalTransitionError(id, previous, to);
    return previous;
  }

  private async changeStep(
    id: string,
    operation: 'start' | 'finish' | 'attempt',
    stepName: string,
    status?: FinishedStepStatus,
  ): Promise<number> {
    const now = this.now();
    const reply = await runScript(
      this.redis,
      stepScript,
      [
        this.keys.record(id),
        this.keys.events(id),
        this.keys.index('queued'),
        this.keys.index('running'),
        this.keys.metrics(),
      ],
      [operation, stepName, now.toISOString(), status ?? '', now.getTime(), stepKind(stepName)],
    );
    if (reply[0] === 'missing') throw new RestoreNotFoundError(id);
    return Number(reply[1]);
  }

  /**
   * Counts one AWS API call (and its error code when it failed) in the shared metrics, so the API's
   * /metrics shows the calls of every worker process. `operation` is e.g. `EC2.CreateVolume`; `scope`
   * the account and region it was made in.
   */
  async recordAwsCall(operation: string, errorCode?: string, scope: AwsCallScope = {}): Promise<void> {
    const where = `${scope.accountId || 'unknown'}|${scope.region || 'unknown'}`;
    const pipeline = this.redis.pipeline().hincrby(this.keys.metrics(), `aws-calls:${operation}|${where}`, 1);
    if (errorCode !== undefined)
      pipeline.hincrby(this.keys.metrics(), `aws-errors:${operation}|${errorCode}|${where}`, 1);
    await pipeline.exec();
  }

  /** Counts one attempt of an AWS call that AWS throttled (the SDK may retry it). */
  async recordAwsThrottle(operation: string, scope: AwsCallScope = {}): Promise<void> {
    const where = `${scope.accountId || 'unknown'}|${scope.region || 'unknown'}`;
    await this.redis.hincrby(this.keys.metrics(), `aws-throttles:${operation}|${where}`, 1);
  }

  /** The number of restores in each status. */
  async countByStatus(): Promise<Record<RestoreStatus, number>> {
    const pipeline = this.redis.pipeline();
    for (const status of restoreStatuses) pipeline.zcard(this.keys.index(status));
    const replies = (await pipeline.exec()) ?? [];
    return Object.fromEntries(
      restoreStatuses.map((status, index) => [status, Number(replies[index]?.[1] ?? 0)]),
    ) as Record<RestoreStatus, number>;
  }

  /**
   * The metrics every process contributed: step durations (a histogram per step kind and outcome,
   * buckets in seconds, cumulative as Prometheus expects), bytes written, AWS calls and errors.
   */
  async readMetrics(): Promise<SharedMetrics> {
    const fields = await this.redis.hgetall(this.keys.metrics());
    return parseMetrics(fields);
  }
}
