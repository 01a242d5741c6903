/**
 * Runs `worker` over the items of `source` with at most `concurrency` running at once. Each worker call gets
 * a slot number in [0, concurrency) that no other running call has, so callers can give every slot its own
 * preallocated buffer: memory stays fixed however many items there are. Items are pulled from `source` only
 * when a slot is free (backpressure). The first failure stops the pool: no new item starts, running ones
 * finish, and the failure is thrown.
 */
export async function runPool<T>(
  source: AsyncIterable<T> | Iterable<T>,
  concurrency: number,
  worker: (item: T, slot: number) => Promise<void>,
  signal?: AbortSignal,
): Promise<void> {
  if (!Number.isInteger(concurrency) || concurrency < 1) {
    throw new RangeError(`concurrency must be a positive integer, got ${concurrency}`);
  }
  const iterator =
    Symbol.asyncIterator in source
      ? (source as AsyncIterable<T>)[Symbol.asyncIterator]()
      : (source as Iterable<T>)[Symbol.iterator]();
  let failure: { error: unknown } | undefined;
  let pulling: Promise<unknown> = Promise.resolve();

  // Pulls are chained so the iterator never sees two concurrent next() calls.
  const next = (): Promise<IteratorResult<T>> => {
    const result = pulling.then(() => iterator.next());
    pulling = result.catch(() => undefined);
    return result;
  };

  const runSlot = async (slot: number): Promise<void> => {
    while (failure === undefined) {
      if (signal?.aborted) {
        failure ??= { error: signal.reason };
        return;
      }
      let item: IteratorResult<T>;
      try {
        item = await next();
      } catch (error) {
        failure ??= { error };
        return;
      }
      if (item.done || failure !== undefined) return;
      try {
        await worker(item.value, slot);
      } catch (error) {
        failure ??= { error };
        return;
      }
    }
  };

  await Promise.all(Array.from({ length: concurrency }, (_, slot) => runSlot(slot)));
  if (failure !== undefined) {
    await iterator.return?.();
    throw failure.error;
  }
}
