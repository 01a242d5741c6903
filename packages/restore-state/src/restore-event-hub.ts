import type { Redis } from 'ioredis';
import type { RestoreEvent } from './types.ts';

export interface RestoreEventHubOptions {
  /**
   * How long one blocking XREAD waits for new events before it is issued again (with the current
   * set of subscribed restores).
   * @defaultValue 2000
   */
  blockMs?: number;
  /**
   * How long Redis may be unreachable (refused, closed or not answering) before every open
   * subscription ends with its `onError`. Shorter outages go unnoticed by subscribers: reading
   * resumes after the last event each one received.
   * @defaultValue 30000
   */
  outageGraceMs?: number;
  /** Told about Redis errors of the shared reader (once per outage). */
  onRedisError?: (error: Error) => void;
}

export interface HubSubscriber {
  /** Events after this stream id: `'0'` all kept, `'$'` only those added from now on. */
  after: string;
  onEvent(event: RestoreEvent): void;
  /** The subscription ended because Redis stayed unreachable; no more events come. */
  onError(error: Error): void;
}

interface Subscription extends HubSubscriber {
  key: string;
  lastId: string;
  open: boolean;
}

/** Stream ids are `<ms>-<seq>`; compares them as numbers. */
function compareStreamIds(a: string, b: string): number {
  const [am = '0', as = '0'] = a.split('-');
  const [bm = '0', bs = '0'] = b.split('-');
  const ms = BigInt(am) - BigInt(bm);
  if (ms !== 0n) return ms < 0n ? -1 : 1;
  const seq = BigInt(as) - BigInt(bs);
  return seq === 0n ? 0 : seq < 0n ? -1 : 1;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Reads the event streams of every subscribed restore over ONE Redis connection: a single blocking
 * XREAD names all of their stream keys, each from the oldest position one of its subscribers still
 * needs, and hands each entry to the subscribers that have not seen it. A thousand open event
 * streams are one Redis client, not a thousand.
 *
 * A subscriber that joins while the read is blocked is picked up at once (CLIENT UNBLOCK from the
 * command connection). When Redis goes away, the reader reconnects and reading resumes where each
 * subscriber left off (the events are in Redis streams, nothing is lost); if Redis stays away
 * longer than `outageGraceMs`, every subscription ends with `onError` so its client can reconnect
 * later instead of waiting on a silent stream.
 */
export class RestoreEventHub {
  private readonly subscriptions = new Map<string, Set<Subscription>>();
  private readonly blockMs: number;
  private readonly outageGraceMs: number;
  private reader: Redis | undefined;
  private readerClientId: number | undefined;
  private running: Promise<void> | undefined;
  private blocked = false;
  private closed = false;

  constructor(
    /** The command connection: duplicated for the reader, and used for CLIENT UNBLOCK. */
    private readonly redis: Redis,
    private readonly options: RestoreEventHubOptions = {},
  ) {
    this.blockMs = options.blockMs ?? 2000;
    this.outageGraceMs = options.outageGraceMs ?? 30_000;
  }

  /** Open subscriptions. */
  get size(): number {
    let count = 0;
    for (const set of this.subscriptions.values()) count += set.size;
    return count;
  }

  /** Subscribes to the stream at `key`; returns the function that ends the subscription. */
  subscribe(key: string, subscriber: HubSubscriber): () => void {
    if (this.closed) throw new Error('the event hub is closed');
    const subscription: Subscription = { ...subscriber, key, lastId: subscriber.after, open: true };
    if (subscriber.after === '$') {
      // "From now on": the stream's last id now (read before the subscription joins the reads).
      subscription.lastId = '0';
      const joined = this.redis.xrevrange(key, '+', '-', 'COUNT', 1).then(
        (last) => {
          subscription.lastId = last[0]?.[0] ?? '0';
        },
        () => {},
      );
      void joined.then(() => {
        if (subscription.open) this.add(subscription);
      });
      return () => this.remove(subscription);
    }
    this.add(subscription);
    return () => this.remove(subscription);
  }

  private add(subscription: Subscription): void {
    const { key } = subscription;
    let set = this.subscriptions.get(key);
    if (!set) {
      set = new Set();
      this.subscriptions.set(key, set);
    }
    set.add(subscription);
    this.running ??= this.loop().finally(() => {
      this.running = undefined;
    });
    this.wakeReader();
  }

  /** Ends every subscription (without onError) and closes the reader connection. */
  async close(): Promise<void> {
    this.closed = true;
    for (const set of this.subscriptions.values()) for (const s of set) s.open = false;
    this.subscriptions.clear();
    this.reader?.disconnect();
    await this.running;
  }

  private remove(subscription: Subscription): void {
    subscription.open = false;
    const set = this.subscriptions.get(subscription.key);
    set?.delete(subscription);
    if (set?.size === 0) this.subscriptions.delete(subscription.key);
  }

  private readerConnection(): Redis {
    if (this.reader) return this.reader;
    const reader = this.redis.duplicate({
      connectionName: 'ec2-restore-events',
      lazyConnect: false,
      // Fail a command at once while disconnected: the loop waits and tries again itself.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      autoResendUnfulfilledCommands: false,
      // A Redis that accepts the connection but does not answer (frozen) must not hang the loop.
      commandTimeout: this.blockMs + 5_000,
      retryStrategy: (attempt) => Math.min(250 * attempt, 2_000),
    });
    // Without a listener ioredis prints "[ioredis] Unhandled error event" for every failed reconnect.
    let reported = false;
    reader.on('error', (error: Error) => {
      if (!reported) this.options.onRedisError?.(error);
      reported = true;
    });
    reader.on('ready', () => {
      reported = false;
      this.readerClientId = undefined;
    });
    this.reader = reader;
    return reader;
  }

  /** A new subscriber should not wait for the current blocking read to time out. */
  private wakeReader(): void {
    if (!this.blocked || this.readerClientId === undefined) return;
    this.redis.client('UNBLOCK', this.readerClientId).catch(() => {});
  }

  private async loop(): Promise<void> {
    const reader = this.readerConnection();
    let outageSince: number | undefined;
    while (!this.closed && this.subscriptions.size > 0) {
      const keys = [...this.subscriptions.keys()];
      const ids = keys.map((key) => {
        let oldest: string | undefined;
        for (const s of this.subscriptions.get(key) ?? [])
          if (oldest === undefined || compareStreamIds(s.lastId, oldest) < 0) oldest = s.lastId;
        return oldest ?? '$';
      });
      let reply: [string, [string, string[]][]][] | null;
      try {
        if (this.readerClientId === undefined) this.readerClientId = Number(await reader.client('ID'));
        this.blocked = true;
        reply = (await reader.xread(
          'COUNT',
          500,
          'BLOCK',
          this.blockMs,
          'STREAMS',
          ...keys,
          ...ids,
        )) as typeof reply;
        outageSince = undefined;
      } catch (error) {
        if (this.closed) return;
        outageSince ??= Date.now();
        if (Date.now() - outageSince >= this.outageGraceMs) {
          this.failAll(error as Error);
          outageSince = undefined;
        } else {
          await sleep(Math.min(500, this.blockMs));
        }
        continue;
      } finally {
        this.blocked = false;
      }
      for (const [key, entries] of reply ?? []) {
        for (const subscription of [...(this.subscriptions.get(key) ?? [])]) {
          for (const [entryId, fields] of entries) {
            if (!subscription.open) break;
            if (compareStreamIds(entryId, subscription.lastId) <= 0) continue;
            subscription.lastId = entryId;
            try {
              subscription.onEvent(parseStreamEvent(entryId, fields));
            } catch {
              // A subscriber's own failure ends only that subscriber.
              this.remove(subscription);
            }
          }
        }
      }
    }
  }

  private failAll(error: Error): void {
    const cause = new Error(
      `Redis has not answered for ${Math.round(this.outageGraceMs / 1000)} s (${error.message})`,
    );
    for (const set of [...this.subscriptions.values()]) {
      for (const subscription of [...set]) {
        this.remove(subscription);
        try {
          subscription.onError(cause);
        } catch {
          // nothing more to tell it
        }
      }
    }
  }
}

/** One stream entry (`type`, `data` fields) as a RestoreEvent. */
export function parseStreamEvent(id: string, fields: string[]): RestoreEvent {
  const values: Record<string, string> = {};
  for (let i = 0; i + 1 < fields.length; i += 2) values[fields[i] as string] = fields[i + 1] as string;
  return { id, type: values['type'], data: JSON.parse(values['data'] ?? 'null') } as RestoreEvent;
}
