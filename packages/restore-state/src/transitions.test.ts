import { describe, expect, it } from 'vitest';
import { canTransition, isTerminal, statusesLeadingTo } from './transitions.ts';
import { restoreStatuses } from './types.ts';

describe('restore lifecycle', () => {
  it('never leaves a terminal status', () => {
    for (const from of restoreStatuses.filter(isTerminal)) {
      for (const to of restoreStatuses) expect(canTransition(from, to)).toBe(false);
    }
  });

  it('reaches succeeded only from running, cancelled only via queued or cancelling', () => {
    expect(statusesLeadingTo('succeeded')).toEqual(['running']);
    expect(statusesLeadingTo('cancelled')).toEqual(['queued', 'cancelling']);
    expect(statusesLeadingTo('cancelling')).toEqual(['queued', 'running']);
  });

  it('has succeeded, failed and cancelled as its terminal statuses', () => {
    expect(restoreStatuses.filter(isTerminal)).toEqual(['succeeded', 'failed', 'cancelled']);
  });
});
