import { describe, expect, it } from 'vitest';
import { parseTargetRoles, readSweepEnv } from './sweep-config.ts';

const base = { REDIS_URL: 'redis://localhost:6379', AWS_REGION: 'eu-west-1' };

describe('readSweepEnv', () => {
  it('reads the variables, with target roles and external ids', () => {
    const config = readSweepEnv({
      ...base,
      AWS_ENDPOINT_URL: 'http://localhost:5000',
      SWEEP_TARGET_ROLES:
        'arn:aws:iam::222222222222:role/Restore#ext-1, arn:aws:iam::333333333333:role/path/Other',
    });
    expect(config).toEqual({
      redisUrl: 'redis://localhost:6379',
      region: 'eu-west-1',
      endpoint: 'http://localhost:5000',
      statePrefix: 'ec2-restore:',
      targets: [
        { roleArn: 'arn:aws:iam::222222222222:role/Restore', region: 'eu-west-1', externalId: 'ext-1' },
        { roleArn: 'arn:aws:iam::333333333333:role/path/Other', region: 'eu-west-1' },
      ],
    });
  });

  it.each([
    [{ AWS_REGION: 'eu-west-1' }, /REDIS_URL is not set/],
    [{ ...base, REDIS_URL: 'localhost:6379' }, /REDIS_URL must be a redis:\/\/ .*\(got "localhost:6379"\)/],
    [{ REDIS_URL: base.REDIS_URL }, /AWS_REGION is not set/],
    [{ ...base, AWS_REGION: 'Ireland' }, /AWS_REGION must be a region name .*\(got "Ireland"\)/],
    [
      { ...base, AWS_ENDPOINT_URL: 'localhost:5000' },
      /AWS_ENDPOINT_URL must be an http:\/\/ .*\(got "localhost:5000"\)/,
    ],
    [{ ...base, SWEEP_TARGET_ROLES: 'Restore' }, /SWEEP_TARGET_ROLES: "Restore" is not a role ARN/],
    [
      { ...base, SWEEP_TARGET_ROLES: 'arn:aws:iam::222222222222:role/R#' },
      /SWEEP_TARGET_ROLES: .* empty external id/,
    ],
  ])('refuses %o naming the variable', (env, message) => {
    expect(() => readSweepEnv(env)).toThrow(message);
  });

  it('has no targets when SWEEP_TARGET_ROLES is empty', () => {
    expect(parseTargetRoles(' ', 'eu-west-1')).toEqual([]);
  });
});
