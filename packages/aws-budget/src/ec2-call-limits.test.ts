import { describe, expect, it } from 'vitest';
import {
  AWS_EC2_DEFAULT_LIMITS,
  assertValidLimits,
  classifyEc2Operation,
  ec2CallLimitsFromEnv,
} from './ec2-call-limits.ts';

describe('classifyEc2Operation', () => {
  it.each([
    ['CreateVolumeCommand', 'mutating'],
    ['CreateSnapshot', 'mutating'],
    ['ModifySnapshotAttributeCommand', 'mutating'],
    ['AttachVolumeCommand', 'mutating'],
    ['DeleteSnapshotCommand', 'mutating'],
    ['CreateTagsCommand', 'mutating'],
    ['TerminateInstancesCommand', 'mutating'],
    ['RunInstancesCommand', 'runInstances'],
    ['RunInstances', 'runInstances'],
    ['DescribeVolumesCommand', 'nonMutating'],
    ['GetEbsDefaultKmsKeyIdCommand', 'nonMutating'],
    // "Describe" must be a whole word: a made-up mutating action that starts with the letters stays mutating.
    ['Describer', 'mutating'],
  ] as const)('%s → %s', (operation, cls) => {
    expect(classifyEc2Operation(operation)).toBe(cls);
  });
});

describe('ec2CallLimitsFromEnv', () => {
  it("uses AWS's buckets when nothing is set", () => {
    expect(ec2CallLimitsFromEnv({})).toEqual({
      mutating: { burst: 100, perSecond: 5 },
      runInstances: { burst: 5, perSecond: 2 },
      nonMutating: { burst: 100, perSecond: 20 },
    });
  });

  it('overrides each figure from its own variable', () => {
    const limits = ec2CallLimitsFromEnv({
      EC2_BUDGET_MUTATING_BURST: '40',
      EC2_BUDGET_MUTATING_PER_SECOND: '2.5',
      EC2_BUDGET_RUN_INSTANCES_PER_SECOND: '1',
      EC2_BUDGET_NON_MUTATING_BURST: '',
    });
    expect(limits).toEqual({
      mutating: { burst: 40, perSecond: 2.5 },
      runInstances: { burst: 5, perSecond: 1 },
      nonMutating: { burst: 100, perSecond: 20 },
    });
    // The defaults object is never changed by an override.
    expect(AWS_EC2_DEFAULT_LIMITS.mutating).toEqual({ burst: 100, perSecond: 5 });
  });

  it.each(['0', '-3', 'fast', 'NaN'])('refuses %s and names the variable', (value) => {
    expect(() => ec2CallLimitsFromEnv({ EC2_BUDGET_RUN_INSTANCES_BURST: value })).toThrow(
      /EC2_BUDGET_RUN_INSTANCES_BURST=.* is not a positive number/,
    );
  });
});

describe('assertValidLimits', () => {
  it('names the field that is wrong', () => {
    expect(() =>
      assertValidLimits({ ...AWS_EC2_DEFAULT_LIMITS, nonMutating: { burst: 10, perSecond: 0 } }),
    ).toThrow('limits.nonMutating.perSecond must be a positive number, got 0');
    expect(() =>
      assertValidLimits({ ...AWS_EC2_DEFAULT_LIMITS, mutating: { burst: 0.5, perSecond: 1 } }),
    ).toThrow('limits.mutating.burst must be at least 1');
  });
});
