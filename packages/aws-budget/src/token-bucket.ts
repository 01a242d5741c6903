import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { TokenBucketLimit } from './ec2-call-limits.ts';

/** A bucket as stored: its tokens (negative while calls are booked ahead) and when it was last filled. */
export interface TokenBucketState {
  tokens: number;
  updatedAtMs: number;
}

export interface ReserveOptions {
  /** Tokens the call spends. @defaultValue 1 */
  cost?: number;
  /**
   * Longest wait the caller accepts. A call that would have to wait longer books nothing and is told
   * how long it would have waited; 0 means "a token now or nothing".
   * @defaultValue 0
   */
  maxWaitMs?: number;
}

export interface Reservation {
  /** The token is the caller's (after `waitMs`); false: nothing was taken. */
  granted: boolean;
  /** How long to wait before the call may go out (granted) or would have had to wait (refused). */
  waitMs: number;
  /** The bucket after this reservation. */
  state: TokenBucketState;
}

/**
 * The bucket arithmetic, the same as the Lua script below (a test runs both on the same inputs).
 *
 * Tokens come back continuously at `perSecond` up to `burst`. A caller books its token at once, even
 * when the bucket is empty: the balance goes negative and the caller waits until the refill has paid
 * for it. So every caller gets its own slot from one round trip (first come, first served), and calls
 * that honour their wait never leave faster than the bucket allows: over any interval of t seconds at
 * most `burst + perSecond * t` calls go out.
 */
export function reserveToken(
  state: TokenBucketState | undefined,
  nowMs: number,
  limit: TokenBucketLimit,
  options: ReserveOptions = {},
): Reservation {
  const cost = options.cost ?? 1;
  const maxWaitMs = options.maxWaitMs ?? 0;
  // A clock that went backwards (another Redis after a fail-over) must not refill twice.
  const at = state ? Math.max(nowMs, state.updatedAtMs) : nowMs;
  const tokens = state
    ? Math.min(limit.burst, state.tokens + ((at - state.updatedAtMs) * limit.perSecond) / 1000)
    : limit.burst;
  const after = tokens - cost;
  const waitMs = after >= 0 ? 0 : Math.ceil((-after * 1000) / limit.perSecond);
  if (waitMs > maxWaitMs) return { granted: false, waitMs, state: { tokens, updatedAtMs: at } };
  return { granted: true, waitMs, state: { tokens: after, updatedAtMs: at } };
}

/**
 * KEYS[1]: the bucket hash (fields tokens, ts).
 * ARGV: burst, perSecond, cost, maxWaitMs, nowMs ('' = Redis' own clock, so every replica of every
 * service agrees on the time). Returns {granted 0/1, waitMs, tokens as a %.17g string}.
 */
export const reserveTokenScript = `
local burst = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local maxWait = tonumber(ARGV[4])
local now
if ARGV[5] ~= '' then
  now = tonumber(ARGV[5])
else
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local saved = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = burst
local at = now
if saved[1] and saved[2] then
  local ts = tonumber(saved[2])
  if ts > at then at = ts end
  tokens = math.min(burst, tonumber(saved[1]) + ((at - ts) * rate) / 1000)
end
local after = tokens - cost
local wait = 0
if after < 0 then wait = math.ceil((-after * 1000) / rate) end
local granted = 0
if wait <= maxWait then
  granted = 1
  tokens = after
end
redis.call('HSET', KEYS[1], 'tokens', string.format('%.17g', tokens), 'ts', string.format('%d', at))
-- Forget the bucket once it would be full again: a missing bucket is a full one.
redis.call('PEXPIRE', KEYS[1], math.ceil(((burst - tokens) * 1000) / rate) + 1000)
return {granted, wait, string.format('%.17g', tokens)}
`;

const reserveTokenSha = createHash('sha1').update(reserveTokenScript).digest('hex');

/** Token buckets kept in Redis, shared by every process that uses the same Redis and keys. */
export class RedisTokenBuckets {
  constructor(private readonly redis: Redis) {}

  /**
   * Books a token of the bucket at `key` (see reserveToken). `nowMs` is for tests only; without it
   * Redis' clock is used.
   */
  async reserve(
    key: string,
    limit: TokenBucketLimit,
    options: ReserveOptions = {},
    nowMs?: number,
  ): Promise<Omit<Reservation, 'state'> & { tokens: number }> {
    const args = [
      String(limit.burst),
      String(limit.perSecond),
      String(options.cost ?? 1),
      String(options.maxWaitMs ?? 0),
      nowMs === undefined ? '' : String(nowMs),
    ];
    let reply: [number, number, string];
    try {
      reply = (await this.redis.evalsha(reserveTokenSha, 1, key, ...args)) as [number, number, string];
    } catch (error) {
      if (!String((error as Error).message).includes('NOSCRIPT')) throw error;
      reply = (await this.redis.eval(reserveTokenScript, 1, key, ...args)) as [number, number, string];
    }
    return { granted: reply[0] === 1, waitMs: Number(reply[1]), tokens: Number(reply[2]) };
  }
}
