/** The options, inputs and outputs of {@link RestoreStore} (restore-store.ts). */
import type { RestoreEventHubOptions } from './restore-event-hub.ts';
import type { Restore, RestoreStatus } from './types.ts';

export interface RestoreStoreOptions {
  /**
   * Prefix of every Redis key the store uses, so several deployments or tests share one Redis.
   * @defaultValue `'ec2-restore:'`
   */
  prefix?: string;
  /**
   * Clock used for createdAt, updatedAt, startedAt and finishedAt.
   * @defaultValue `() => new Date()`
   */
  now?: () => Date;
  /** How subscriptions read events (block time, how long a Redis outage may last). */
  events?: RestoreEventHubOptions;
}

/** Idempotency of {@link RestoreStore.create}: one restore per key, remembered for `ttlSeconds`. */
export interface IdempotencyOptions {
  key: string;
  /** A hash of the request body; the same key with another body is a conflict. */
  bodyHash: string;
  /** @defaultValue 86400 (24 hours) */
  ttlSeconds?: number;
}

/**
 * An idempotency key seen before: `existing` when with the same body (the first restore's id),
 * `conflict` when with another body.
 */
export type IdempotencyMatch = { outcome: 'existing' | 'conflict'; restoreId: string };

export type CreateOutcome<Request> = { outcome: 'created'; restore: Restore<Request> } | IdempotencyMatch;

export interface ListOptions {
  status?: RestoreStatus;
  /** @defaultValue 50 */
  limit?: number;
}

export interface SubscribeOptions {
  /**
   * Deliver events after this event id; `'0'` replays the whole history kept (so a subscriber
   * that arrives after the end still sees it), `'$'` only new events.
   * @defaultValue `'0'`
   */
  after?: string;
  /** Called once if the subscription ends because Redis stayed unreachable; no events follow. */
  onError?: (error: Error) => void;
}

/** Where an AWS call was made. */
export interface AwsCallScope {
  accountId?: string;
  region?: string;
}

/** Metrics written by every process that updates restores; read by the API for /metrics. */
export interface SharedMetrics {
  stepDurations: {
    step: string;
    status: string;
    count: number;
    sumSeconds: number;
    /** Cumulative: restores whose step took at most `le` seconds. */
    buckets: { le: number; count: number }[];
  }[];
  /** Bytes written into snapshots or volumes, summed over every restore. */
  bytesWritten: number;
  /** Bytes read back and compared with the restore point (verified restores), summed over every restore. */
  bytesVerified: number;
  /** Calls by operation and the account and region they were made in (`unknown` when not known). */
  awsCalls: { operation: string; accountId: string; region: string; count: number }[];
  /** Calls that finally failed, by operation, error code, account and region. */
  awsErrors: { operation: string; code: string; accountId: string; region: string; count: number }[];
  /** Attempts AWS throttled (each one, retried or not), by operation, account and region. */
  awsThrottles: { operation: string; accountId: string; region: string; count: number }[];
}
