import { describe, expect, it } from 'vitest';
import { createLogger } from './logger.ts';

describe('createLogger', () => {
  it('redacts credentials wherever they appear in a log object', () => {
    const lines: string[] = [];
    const logger = createLogger('info', { write: (line: string) => void lines.push(line) });
    logger.info(
      {
        restoreId: 'r-1',
        headers: { authorization: 'Bearer s3cr3t-token' },
        credentials: { accessKeyId: 'AKIAEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI' },
        source: { credentials: { sessionToken: 'FwoGZXIvYXdzE' } },
        aws: { secretAccessKey: 'another-secret' },
        apiTokens: ['t1-secret'],
      },
      'something happened',
    );
    const text = lines.join('');
    for (const secret of [
      's3cr3t-token',
      'AKIAEXAMPLE',
      'wJalrXUtnFEMI',
      'FwoGZXIvYXdzE',
      'another-secret',
      't1-secret',
    ]) {
      expect(text).not.toContain(secret);
    }
    expect(JSON.parse(text)).toMatchObject({ restoreId: 'r-1', msg: 'something happened', service: 'api' });
  });
});
