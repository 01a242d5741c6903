import { getEventListeners } from 'node:events';
import { describe, expect, it } from 'vitest';
import { AbortScope, withAbortScope } from './abort-scope.ts';

describe('AbortScope', () => {
  it('holds one listener on the caller signal while open and none once closed', async () => {
    const caller = new AbortController();
    await withAbortScope(caller.signal, 64, async (signal) => {
      expect(getEventListeners(caller.signal, 'abort')).toHaveLength(1);
      expect(signal).not.toBe(caller.signal);
    });
    expect(getEventListeners(caller.signal, 'abort')).toHaveLength(0);
    await expect(
      withAbortScope(caller.signal, 8, async () => {
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect(getEventListeners(caller.signal, 'abort')).toHaveLength(0);
  });

  it('aborts with the caller reason, also when the caller was aborted before', () => {
    const caller = new AbortController();
    const scope = new AbortScope(caller.signal, 4);
    const reason = new Error('restore cancelled');
    caller.abort(reason);
    expect(scope.signal.aborted).toBe(true);
    expect(scope.signal.reason).toBe(reason);
    scope.close();

    const late = new AbortScope(caller.signal, 4);
    expect(late.signal.reason).toBe(reason);
    late.close();
    expect(new AbortScope(undefined, 1).signal.aborted).toBe(false);
  });

  it('lets the pool hang its calls on the scope signal without a MaxListenersExceededWarning', async () => {
    const warnings: Error[] = [];
    const onWarning = (warning: Error): void => {
      warnings.push(warning);
    };
    process.on('warning', onWarning);
    try {
      const caller = new AbortController();
      const scope = new AbortScope(caller.signal, 64);
      const listeners = Array.from({ length: 128 }, () => () => {});
      for (const listener of listeners) scope.signal.addEventListener('abort', listener);
      // Node emits the warning on the next tick.
      await new Promise((resolve) => setImmediate(resolve));
      expect(warnings.map((w) => w.name)).not.toContain('MaxListenersExceededWarning');
      for (const listener of listeners) scope.signal.removeEventListener('abort', listener);
      scope.close();
    } finally {
      process.off('warning', onWarning);
    }
  });
});
