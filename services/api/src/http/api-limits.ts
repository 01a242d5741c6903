import type { RequestHandler } from 'express';
import { HttpError, sendError } from './api-error.ts';
import { callerOf } from './token-auth.ts';

/** The limits one API process enforces (each replica counts on its own). */
export interface ApiLimits {
  /**
   * Open event streams (`GET /v1/restores/{id}/events`) in this process; one more is 429.
   * @defaultValue 1000
   */
  maxEventStreams: number;
  /**
   * Open event streams of one token in this process; one more is 429.
   * @defaultValue 50
   */
  maxEventStreamsPerToken: number;
  /**
   * POST requests (create, plan, cancel) one token may make per minute in this process, with a
   * burst of as many; one more is 429 with Retry-After.
   * @defaultValue 60
   */
  postsPerMinutePerToken: number;
  /**
   * How long a data route waits for Redis before it answers 503 (a frozen or overloaded Redis must
   * not hold requests open).
   * @defaultValue 3000
   */
  redisTimeoutMs: number;
}

export const defaultApiLimits: ApiLimits = {
  maxEventStreams: 1000,
  maxEventStreamsPerToken: 50,
  postsPerMinutePerToken: 60,
  redisTimeoutMs: 3000,
};

/** Counts open event streams, in total and per token. */
export class EventStreamSlots {
  private total = 0;
  private readonly perToken = new Map<string, number>();

  constructor(private readonly limits: Pick<ApiLimits, 'maxEventStreams' | 'maxEventStreamsPerToken'>) {}

  get open(): number {
    return this.total;
  }

  /** Takes a slot for `tokenId`, or throws the 429 that says which limit is reached. */
  acquire(tokenId: string): () => void {
    const mine = this.perToken.get(tokenId) ?? 0;
    if (mine >= this.limits.maxEventStreamsPerToken) {
      throw rateLimited(
        `This token has ${mine} event streams open, the most one token may (API_MAX_EVENT_STREAMS_PER_TOKEN=${this.limits.maxEventStreamsPerToken}); close one, or poll GET /v1/restores/{id}`,
        10,
      );
    }
    if (this.total >= this.limits.maxEventStreams) {
      throw rateLimited(
        `This API process has ${this.total} event streams open, the most it serves (API_MAX_EVENT_STREAMS=${this.limits.maxEventStreams}); try again shortly`,
        10,
      );
    }
    this.total += 1;
    this.perToken.set(tokenId, mine + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.total -= 1;
      const left = (this.perToken.get(tokenId) ?? 1) - 1;
      if (left <= 0) this.perToken.delete(tokenId);
      else this.perToken.set(tokenId, left);
    };
  }
}

function rateLimited(message: string, retryAfterSeconds: number): HttpError {
  return new HttpError('rate_limited', message, { retryAfterSeconds });
}

/**
 * A token bucket per token: `perMinute` requests, refilled continuously. Buckets of tokens that
 * are full again are forgotten, so memory stays bounded by the tokens active in the last minute.
 */
export class TokenRateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(
    private readonly perMinute: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Takes one request for `key`; returns 0 when allowed, else the seconds until one is. */
  take(key: string): number {
    const now = this.now();
    const rate = this.perMinute / 60_000;
    const bucket = this.buckets.get(key) ?? { tokens: this.perMinute, at: now };
    bucket.tokens = Math.min(this.perMinute, bucket.tokens + (now - bucket.at) * rate);
    bucket.at = now;
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      this.buckets.set(key, bucket);
      if (this.buckets.size > 10_000) this.forgetFull(now);
      return 0;
    }
    this.buckets.set(key, bucket);
    return Math.max(1, Math.ceil((1 - bucket.tokens) / rate / 1000));
  }

  private forgetFull(now: number): void {
    const rate = this.perMinute / 60_000;
    for (const [key, bucket] of this.buckets)
      if (bucket.tokens + (now - bucket.at) * rate >= this.perMinute) this.buckets.delete(key);
  }
}

/** After `tokenAuth`: 429 with Retry-After when the caller's token used up its POST budget. */
export function postRateLimit(limiter: TokenRateLimiter, perMinute: number): RequestHandler {
  return (_req, res, next) => {
    const waitSeconds = limiter.take(callerOf(res)?.tokenId ?? 'anonymous');
    if (waitSeconds === 0) {
      next();
      return;
    }
    res.set('Retry-After', String(waitSeconds));
    sendError(
      res,
      rateLimited(
        `This token made more than ${perMinute} POST requests in a minute (API_POST_RATE_PER_MINUTE); try again in ${waitSeconds} s`,
        waitSeconds,
      ),
    );
  };
}
