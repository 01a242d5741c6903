import { describe, expect, it } from 'vitest';
import { warmRequestParsing } from './warm-up.ts';

describe('warmRequestParsing', () => {
  it('parses its sample body through the JSON parser and the restore request schema (a schema change that refuses it fails here, not silently at start)', async () => {
    await expect(warmRequestParsing()).resolves.toBeUndefined();
  });
});
