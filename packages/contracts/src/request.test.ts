import { describe, expect, it } from 'vitest';
import { invalidRequestError, zodIssues } from './errors.ts';
import { openApiComponentSchemas, toJsonSchema } from './json-schema.ts';
import { restoreRequestSchema } from './request.ts';

const valid = {
  restorePointId: 'rp-2026-11-27',
  target: {
    accountId: '222222222222',
    region: 'eu-west-1',
    roleArn: 'arn:aws:iam::222222222222:role/Restore',
    externalId: 'ext-123',
    kmsKeyId: 'arn:aws:kms:eu-west-1:222222222222:key/1234abcd-12ab-34cd-56ef-1234567890ab',
  },
  instance: {
    name: 'web',
    instanceType: 't3.micro',
    subnetId: 'subnet-0123456789abcdef0',
    securityGroupIds: ['sg-01234567'],
  },
};

function issuesOf(input: unknown) {
  const parsed = restoreRequestSchema.safeParse(input);
  if (parsed.success) return [];
  return zodIssues(parsed.error);
}

function withTarget(patch: Record<string, unknown>) {
  return { ...valid, target: { ...valid.target, ...patch } };
}

describe('restoreRequestSchema', () => {
  it('accepts a full request and applies the defaults', () => {
    const parsed = restoreRequestSchema.parse(valid);
    expect(parsed.dataPath).toBe('ebs-direct');
    expect(parsed.kmsGrant).toBe('none');
    expect(parsed.instance.powerOn).toBe(false);
    expect(parsed.verify).toBe(false);
    expect(restoreRequestSchema.parse({ ...valid, verify: true }).verify).toBe(true);
  });

  it('accepts a minimal same-account request', () => {
    const parsed = restoreRequestSchema.parse({
      restorePointId: 'rp1',
      target: { accountId: '111111111111', region: 'us-east-1', kmsKeyId: 'alias/restore' },
    });
    expect(parsed.instance).toEqual({ powerOn: false });
  });

  it.each([
    ['1234abcd-12ab-34cd-56ef-1234567890ab'],
    ['mrk-1234abcd12ab34cd56ef1234567890ab'],
    ['arn:aws:kms:eu-west-1:222222222222:key/mrk-1234abcd12ab34cd56ef1234567890ab'],
    ['alias/my-key'],
    ['alias/aws/ebs'],
    ['arn:aws:kms:eu-west-1:222222222222:alias/my-key'],
  ])('accepts the KMS key reference %s', (kmsKeyId) => {
    expect(issuesOf(withTarget({ kmsKeyId }))).toEqual([]);
  });

  it.each([
    [{ accountId: '2222' }, 'target.accountId', /12-digit/],
    [{ accountId: 222222222222 }, 'target.accountId', /12-digit/],
    [{ accountId: undefined }, 'target.accountId', /required/],
    [{ region: 'eu-west-9' }, 'target.region', /not an AWS region/],
    [{ roleArn: 'arn:aws:iam::222222222222:user/bob' }, 'target.roleArn', /role\/NAME/],
    [{ roleArn: 'arn:aws:s3:::bucket' }, 'target.roleArn', /expected "iam"/],
    [{ roleArn: 'arn:aws:iam::22222222222:role/R' }, 'target.roleArn', /12-digit/],
    [
      { roleArn: 'arn:aws:iam::333333333333:role/R' },
      'target.roleArn',
      /account 333333333333.*target account/,
    ],
    [{ roleArn: 'arn:aws-cn:iam::222222222222:role/R' }, 'target.roleArn', /partition/],
    [{ roleArn: 'role/Restore' }, 'target.roleArn', /arn:aws:iam::ACCOUNT:role\/NAME/],
    [{ kmsKeyId: 'my-key' }, 'target.kmsKeyId', /key id/],
    [{ kmsKeyId: 'arn:aws:kms:eu-west-1:222222222222:key/nope' }, 'target.kmsKeyId', /not a KMS key id/],
    [{ kmsKeyId: 'arn:aws:ec2:eu-west-1:222222222222:key/1234' }, 'target.kmsKeyId', /expected "kms"/],
    [{ kmsKeyId: 'alias/' }, 'target.kmsKeyId', /alias name/],
    [{ roleArn: undefined, externalId: 'abc' }, 'target.externalId', /roleArn/],
  ])('rejects target %j at %s', (patch, path, message) => {
    const issues = issuesOf(withTarget(patch));
    expect(issues).toContainEqual({ path, message: expect.stringMatching(message) });
  });

  it.each([
    [{ volumes: ['/dev/xvdf', '/dev/sdg', '/dev/sda1', '/dev/xvdba'] }, []],
    [{ volumes: ['xvdf'] }, [['volumes[0]', /\/dev\/xvdf/]]],
    [{ volumes: ['/dev/nvme1n1'] }, [['volumes[0]', /not an EBS device name/]]],
    [{ volumes: [] }, [['volumes', /at least one/]]],
    [{ volumes: ['/dev/xvdf', '/dev/xvdf'] }, [['volumes[1]', /twice/]]],
    [{ dataPath: 'fast' }, [['dataPath', /ebs-direct/]]],
    [{ kmsGrant: 'yes' }, [['kmsGrant', /"none" or "auto"/]]],
    [{ verify: 'yes' }, [['verify', /true or false/]]],
    [{ instance: { instanceId: 'i-0123456789abcdef0' } }, [['instance.instanceId', /volume-level/]]],
    [{ instance: { instanceId: 'i-0123456789abcdef0' }, volumes: ['/dev/xvdf'] }, []],
    [{ instance: { subnetId: 'sub-1' } }, [['instance.subnetId', /subnet-/]]],
    [{ instance: { securityGroupIds: ['default'] } }, [['instance.securityGroupIds[0]', /sg-/]]],
    [{ instance: { instanceType: 'big' } }, [['instance.instanceType', /t3.micro/]]],
    [{ instance: { tags: { 'aws:x': 'y' } } }, [['instance.tags.aws:x', /reserved/]]],
    [{ restorePointId: '../etc' }, [['restorePointId', /restore point id/]]],
  ] as const)('checks %j', (patch, expected) => {
    const issues = issuesOf({ ...valid, ...patch });
    expect(issues.map((i) => i.path)).toEqual(expected.map(([path]) => path));
    expected.forEach(([, message], index) => {
      expect(issues[index]?.message).toMatch(message);
    });
  });

  it('reports every invalid field in one invalid_request envelope', () => {
    const parsed = restoreRequestSchema.safeParse({ target: { accountId: 'x', region: 'mars-1' } });
    expect(parsed.success).toBe(false);
    if (parsed.success) return;
    const body = invalidRequestError(parsed.error);
    expect(body.error.code).toBe('invalid_request');
    expect(body.error.category).toBe('input');
    const paths = (body.error.details.issues as { path: string }[]).map((i) => i.path);
    expect(paths).toEqual(['restorePointId', 'target.accountId', 'target.region', 'target.kmsKeyId']);
    expect(body.error.message).toContain('restorePointId: required');
  });
});

describe('JSON Schema generation', () => {
  it('describes the request with its defaults and patterns', () => {
    const schema = toJsonSchema(restoreRequestSchema, 'input') as {
      required: string[];
      properties: Record<string, { default?: unknown; properties?: Record<string, { pattern?: string }> }>;
    };
    expect(schema.required).toEqual(['restorePointId', 'target']);
    expect(schema.properties.dataPath?.default).toBe('ebs-direct');
    expect(schema.properties.verify).toMatchObject({ type: 'boolean', default: false });
    expect(schema.properties.target?.properties?.accountId?.pattern).toBe('^\\d{12}$');
    const target = schema.properties.target?.properties as Record<
      string,
      { enum?: string[]; pattern?: string }
    >;
    expect(target.region?.enum).toContain('eu-west-1');
    expect(target.region?.enum).not.toContain('eu-west-9');
    expect(new RegExp(target.roleArn?.pattern ?? '$^').test('arn:aws:iam::222222222222:role/Restore')).toBe(
      true,
    );
  });

  it('gives OpenAPI component schemas for every public shape', () => {
    const components = openApiComponentSchemas();
    expect(Object.keys(components)).toEqual(['RestoreRequest', 'Restore', 'PlanResult', 'Check', 'Error']);
    expect(JSON.stringify(components.Check)).toContain('target-key.access.restore-role');
  });
});
