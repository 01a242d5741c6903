/** The EC2 call budget as tests use it: one of its own per test (a random key prefix), in REGION. */
import { randomUUID } from 'node:crypto';
import { createEc2CallBudget } from '@ec2-restore/aws-budget';
import type { Redis } from 'ioredis';
import { REGION } from './accounts.ts';

/** A budget for one account, its mutating calls limited to `mutating` (burst, then per second). */
export function testEc2Budget(
  redis: Redis,
  accountId: string,
  mutating: { burst: number; perSecond: number },
) {
  return createEc2CallBudget({
    redis,
    accountId,
    region: REGION,
    keyPrefix: `test:${randomUUID()}`,
    limits: { mutating },
  });
}
