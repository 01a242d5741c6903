import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from './config.ts';

const valid = {
  REDIS_URL: 'redis://localhost:6379',
  AWS_REGION: 'eu-west-1',
  BACKUP_REPOSITORY: '/var/backups',
  API_TOKENS: 'aaaaaaaaaaaaaaaaaaaa, admin:bbbbbbbbbbbbbbbbbbbb',
};

function problemsOf(env: Record<string, string | undefined>) {
  try {
    loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

describe('loadConfig', () => {
  it('reads a valid environment with defaults', () => {
    expect(loadConfig(valid)).toEqual({
      redisUrl: 'redis://localhost:6379',
      awsRegion: 'eu-west-1',
      awsEndpointUrl: undefined,
      backupRepository: '/var/backups',
      apiTokens: [
        { token: 'aaaaaaaaaaaaaaaaaaaa', role: 'operator' },
        { token: 'bbbbbbbbbbbbbbbbbbbb', role: 'admin' },
      ],
      port: 8080,
      queuePrefix: 'bull',
      statePrefix: 'ec2-restore:',
      logLevel: 'info',
      limits: {
        maxEventStreams: 1000,
        maxEventStreamsPerToken: 50,
        postsPerMinutePerToken: 60,
        redisTimeoutMs: 3000,
      },
    });
    expect(loadConfig({ ...valid, PORT: '0', AWS_ENDPOINT_URL: 'http://127.0.0.1:5000' })).toMatchObject({
      port: 0,
      awsEndpointUrl: 'http://127.0.0.1:5000',
    });
  });

  it('names every wrong variable and why', () => {
    const problems = problemsOf({
      REDIS_URL: 'localhost:6379',
      AWS_REGION: 'Ireland',
      API_TOKENS: 'tab\tinside',
      PORT: '70000',
      AWS_ENDPOINT_URL: 'ftp://x',
    });
    const byVariable = Object.fromEntries(problems.map((problem) => [problem.variable, problem.message]));
    expect(Object.keys(byVariable).sort()).toEqual([
      'API_TOKENS',
      'AWS_ENDPOINT_URL',
      'AWS_REGION',
      'BACKUP_REPOSITORY',
      'PORT',
      'REDIS_URL',
    ]);
    expect(byVariable.REDIS_URL).toContain('redis://');
    expect(byVariable.AWS_REGION).toContain('eu-west-1');
    expect(byVariable.BACKUP_REPOSITORY).toMatch(/^is not set/);
    expect(byVariable.API_TOKENS).toContain('visible ASCII');
    expect(byVariable.PORT).toContain('65535');
  });

  it('refuses an API_TOKENS that lists no token', () => {
    expect(problemsOf({ ...valid, API_TOKENS: ' , ' })).toEqual([
      { variable: 'API_TOKENS', message: 'lists no token; give one or more, comma-separated' },
    ]);
  });

  it('reads a role per token; a bare token is an operator token', () => {
    expect(
      loadConfig({ ...valid, API_TOKENS: 'read:r-0123456789, o-0123456789 ,admin:x:y,read:r-0123456789' })
        .apiTokens,
    ).toEqual([
      { token: 'r-0123456789', role: 'read' },
      { token: 'o-0123456789', role: 'operator' },
      { token: 'x:y', role: 'admin' },
    ]);
  });

  it.each([
    ['reader:secret-token-1', 'entry 1 of 1 has a ":" but what comes before it is not a role'],
    ['admin:ok-token-1,read:bad token', 'entry 2 of 2: a token may only contain visible ASCII'],
    ['admin:same-token-1,read:same-token-1', 'the same token is listed with two roles (admin and read)'],
    ['admin:', 'entry 1 of 1: a token may only contain visible ASCII'],
  ])('refuses API_TOKENS=%j naming the entry and the fix, never the token', (value, message) => {
    const problems = problemsOf({ ...valid, API_TOKENS: value });
    expect(problems).toHaveLength(1);
    expect(problems[0]?.variable).toBe('API_TOKENS');
    expect(problems[0]?.message).toContain(message);
    expect(problems[0]?.message).not.toMatch(/reader|secret-token|ok-token|same-token|bad token/);
  });

  it('says "Invalid configuration" and the variable in the error message', () => {
    expect(() => loadConfig({ ...valid, REDIS_URL: undefined })).toThrow(
      /Invalid configuration:\n {2}REDIS_URL: is not set/,
    );
  });
});
