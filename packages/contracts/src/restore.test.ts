import { describe, expect, it } from 'vitest';
import { instanceJobResultSchema } from './jobs.ts';
import { restoreResultSchema } from './restore.ts';

describe('restore result', () => {
  const volumes = [
    {
      deviceName: '/dev/xvdb',
      volumeId: 'vol-0123456789abcdef0',
      kmsKeyId: 'arn:aws:kms:eu-west-1:222222222222:key/1234abcd-12ab-34cd-56ef-1234567890ab',
      sizeGiB: 8,
    },
  ];

  it('a volume-level restore into no instance has instanceId null, as the instance job reports it', () => {
    const result = { instanceId: null, accountId: '222222222222', region: 'eu-west-1', volumes };
    expect(restoreResultSchema.safeParse(result).success).toBe(true);
    // The public result is the instance job's result: every value the job may produce must be valid.
    expect(instanceJobResultSchema.shape.instanceId.safeParse(null).success).toBe(true);
  });

  it('still refuses a missing instanceId', () => {
    const result = { accountId: '222222222222', region: 'eu-west-1', volumes };
    expect(restoreResultSchema.safeParse(result).success).toBe(false);
  });
});
