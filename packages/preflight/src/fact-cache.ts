/**
 * A small time-limited cache of pre-flight facts, shared by the plans of one process.
 *
 * Plans that run at the same time for the same facts share one AWS call (the second waits for the
 * first's answer). An answer is kept for `ttlMs` only when `keep` accepts it: refusals and "not
 * found" are never kept, so a person who fixes a role or a key and plans again is not answered from
 * the cache. The cache holds at most `maxEntries` facts; the oldest go first, so memory stays flat.
 */
export class FactCache {
  private readonly entries = new Map<string, { value: Promise<unknown>; expiresAt: number }>();

  constructor(
    private readonly maxEntries = 2_000,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * The cached value of `key`, or the value `load` gives (kept for `ttlMs` when `keep` says so).
   * A `ttlMs` of 0 bypasses the cache entirely.
   */
  get<T>(key: string, ttlMs: number, load: () => Promise<T>, keep: (value: T) => boolean): Promise<T> {
    if (ttlMs <= 0) return load();
    const entry = this.entries.get(key);
    if (entry && entry.expiresAt > this.now()) return entry.value as Promise<T>;
    const value = load();
    // While the load runs, later callers share it; its outcome decides whether it stays.
    const pending = { value: value as Promise<unknown>, expiresAt: Number.POSITIVE_INFINITY };
    this.set(key, pending);
    value.then(
      (result) => {
        if (this.entries.get(key) !== pending) return;
        if (keep(result)) pending.expiresAt = this.now() + ttlMs;
        else this.entries.delete(key);
      },
      () => {
        if (this.entries.get(key) === pending) this.entries.delete(key);
      },
    );
    return value;
  }

  /** Forgets one fact (the next plan asks AWS again). */
  delete(key: string): void {
    this.entries.delete(key);
  }

  /** How many facts are held (pending loads included). */
  get size(): number {
    return this.entries.size;
  }

  private set(key: string, entry: { value: Promise<unknown>; expiresAt: number }): void {
    this.entries.delete(key);
    this.entries.set(key, entry);
    while (this.entries.size > this.maxEntries) {
      const oldest = this.entries.keys().next().value as string;
      this.entries.delete(oldest);
    }
  }
}
