import { setMaxListeners } from 'node:events';

/**
 * Abort listeners one AWS SDK call holds on the signal it is given while it runs: one for the SDK's
 * retry loop and one for the Node HTTP handler's request. Both are removed when the call ends.
 */
export const ABORT_LISTENERS_PER_CALL = 2;

/**
 * A signal owned by one write or read-back that follows the caller's signal.
 *
 * Each call in flight adds its own abort listeners to the signal it is passed, so a pool of N calls on
 * the caller's signal holds about 2N listeners at once. Node warns past 10 (MaxListenersExceededWarning),
 * and the caller's signal (one per step job) would carry listeners of every call of every write it
 * runs. The scope instead adds a single listener to the caller's signal, removed by `close()`, and gives
 * the pool a signal of its own whose listener limit is the bound the pool really needs: a call that
 * failed to remove its listeners still shows up as the warning.
 */
export class AbortScope {
  readonly signal: AbortSignal;
  private readonly controller = new AbortController();
  private readonly parent: AbortSignal | undefined;
  private readonly onParentAbort = (): void => this.controller.abort(this.parent?.reason);

  /** @param callsInFlight the most AWS calls that run at once on this scope's signal */
  constructor(parent: AbortSignal | undefined, callsInFlight: number) {
    this.parent = parent;
    this.signal = this.controller.signal;
    // A few over the pool's bound: sequential calls (start, complete, list) and a retry's backoff sleep.
    setMaxListeners(callsInFlight * ABORT_LISTENERS_PER_CALL + 4, this.signal);
    if (parent?.aborted) this.controller.abort(parent.reason);
    else parent?.addEventListener('abort', this.onParentAbort, { once: true });
  }

  /** Stops following the caller's signal; call it when the work ends, however it ends. */
  close(): void {
    this.parent?.removeEventListener('abort', this.onParentAbort);
  }
}

/** Runs `work` with a scope's signal and closes the scope when the work settles. */
export async function withAbortScope<T>(
  parent: AbortSignal | undefined,
  callsInFlight: number,
  work: (signal: AbortSignal) => Promise<T>,
): Promise<T> {
  const scope = new AbortScope(parent, callsInFlight);
  try {
    return await work(scope.signal);
  } finally {
    scope.close();
  }
}
