import { randomInt } from 'node:crypto';

/**
 * Emulator-only credentials. The local AWS emulator (packages/local-aws/emulator) treats an access
 * key id `AKIAEMU0` followed by a 12-digit account id as the root user of that account; moto alone
 * would map every unknown key to its default account 123456789012. The secret is never checked
 * (moto does not verify signatures). These keys mean nothing to real AWS.
 */
export const EMULATOR_ROOT_ACCESS_KEY_PREFIX = 'AKIAEMU0';

/** The demo accounts of the embedded default (docs/architecture.md#running-it). */
export const DEMO_SOURCE_ACCOUNT_ID = '111111111111';
export const DEMO_TARGET_ACCOUNT_ID = '222222222222';

/** Accounts a random id must never be: moto's default and the demo accounts. */
const WELL_KNOWN_ACCOUNT_IDS = new Set([
  '123456789012',
  '000000000000',
  DEMO_SOURCE_ACCOUNT_ID,
  DEMO_TARGET_ACCOUNT_ID,
]);

export interface EmulatorCredentials {
  accessKeyId: string;
  secretAccessKey: string;
}

const ACCOUNT_ID = /^\d{12}$/;

/** Credentials that act as the root user of `accountId` in the emulator. */
export function credentialsForAccount(accountId: string): EmulatorCredentials {
  if (!ACCOUNT_ID.test(accountId)) {
    throw new Error(`accountId must be 12 digits (an AWS account id), got ${JSON.stringify(accountId)}`);
  }
  return {
    accessKeyId: `${EMULATOR_ROOT_ACCESS_KEY_PREFIX}${accountId}`,
    secretAccessKey: `emulator-root-secret-${accountId}`,
  };
}

const issuedAccountIds: string[] = [];

/** A fresh 12-digit account id (first digit 3-9, so it never meets the well-known ones above). */
export function randomAccountId(): string {
  for (;;) {
    const id = String(randomInt(3, 10)) + String(randomInt(0, 100_000_000_000)).padStart(11, '0');
    if (WELL_KNOWN_ACCOUNT_IDS.has(id)) continue;
    issuedAccountIds.push(id);
    return id;
  }
}

/**
 * The ids randomAccountId gave out in this process since the last call: a test file's accounts, for
 * forgetTestAccounts once the file is done.
 */
export function takeIssuedAccountIds(): string[] {
  return issuedAccountIds.splice(0);
}
