import { describe, expect, it } from 'vitest';
import {
  credentialsForAccount,
  DEMO_SOURCE_ACCOUNT_ID,
  DEMO_TARGET_ACCOUNT_ID,
  EMULATOR_ROOT_ACCESS_KEY_PREFIX,
  randomAccountId,
  takeIssuedAccountIds,
} from './accounts.ts';

describe('credentialsForAccount', () => {
  it('encodes the account in a 20-character access key id the emulator recognises', () => {
    const { accessKeyId, secretAccessKey } = credentialsForAccount('345678901234');
    expect(accessKeyId).toBe(`${EMULATOR_ROOT_ACCESS_KEY_PREFIX}345678901234`);
    // moto extracts access keys with /[A-Z0-9]{20}/ from the Authorization header.
    expect(accessKeyId).toMatch(/^[A-Z0-9]{20}$/);
    expect(secretAccessKey.length).toBeGreaterThan(0);
  });

  it('refuses anything but 12 digits, naming the value', () => {
    expect(() => credentialsForAccount('12345')).toThrow(/accountId must be 12 digits.*"12345"/);
    expect(() => credentialsForAccount('12345678901a')).toThrow(/12 digits/);
  });
});

describe('randomAccountId', () => {
  it('gives 12 digits, never a well-known account, and different ids', () => {
    const ids = new Set(Array.from({ length: 500 }, () => randomAccountId()));
    expect(ids.size).toBeGreaterThan(495);
    for (const id of ids) {
      expect(id).toMatch(/^[3-9]\d{11}$/);
      expect([DEMO_SOURCE_ACCOUNT_ID, DEMO_TARGET_ACCOUNT_ID, '123456789012']).not.toContain(id);
    }
  });
});

describe('takeIssuedAccountIds', () => {
  it('returns the ids given out since the last call, once', () => {
    takeIssuedAccountIds();
    const given = [randomAccountId(), randomAccountId()];
    expect(takeIssuedAccountIds()).toEqual(given);
    expect(takeIssuedAccountIds()).toEqual([]);
  });
});
