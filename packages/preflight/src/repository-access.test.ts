import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { runChecks } from './checks.ts';
import type { PreflightFacts } from './facts.ts';
import { evaluateIdentityPolicies, statementsOf } from './policy-evaluator.ts';
import { generatePolicies } from './policy-generator.ts';
import type { PolicyDocument, PolicyStatement } from './policy-types.ts';
import {
  repositoryRequests,
  S3_CALLS,
  type S3RepositoryLocation,
  workerRepositoryActions,
} from './repository-access.ts';
import { checkRepositoryAccess } from './repository-checks.ts';
import {
  allowAllEc2,
  allowAllKms,
  principal,
  REGION,
  SAME_ACCOUNT_KEY,
  SOURCE,
  sameAccountFacts,
  WORKER_ROLE,
  WORKER_SESSION,
} from './test-facts.ts';

const REPO = fileURLToPath(new URL('../../..', import.meta.url));
const LOCATION: S3RepositoryLocation = { bucket: 'acme-backups', prefix: 'prod/ec2' };

/** The worker role's generated policy for a same-account restore from `location`. */
function generatedWorkerPolicy(location?: S3RepositoryLocation): PolicyDocument {
  return generatePolicies({
    mode: 'same-account',
    region: REGION,
    dataPath: 'ebs-direct',
    kmsGrant: 'none',
    workerRoleArn: WORKER_ROLE,
    targetKeyArn: SAME_ACCOUNT_KEY,
    ...(location ? { s3Repository: location } : {}),
  }).workerRolePolicy;
}

/** Same-account facts whose worker role holds `policies`, restoring from the repository at `location`. */
function factsWith(policies: PolicyDocument[] | undefined, location = LOCATION): PreflightFacts {
  const facts = sameAccountFacts();
  return {
    ...facts,
    worker: { principal: principal(WORKER_SESSION, WORKER_ROLE, policies) },
    restorePoint: { ...facts.restorePoint, repository: location },
  };
}

const caller = { arn: WORKER_SESSION, roleArn: WORKER_ROLE };
const allows = (policy: PolicyDocument, action: string, resource: string, context = {}) =>
  evaluateIdentityPolicies([policy], { caller, action, resource, context }).allow.length > 0;

describe('the S3 calls of the backup repository', () => {
  it('every S3 command the S3 store sends is in the inventory, with the IAM action AWS checks', () => {
    const source = readFileSync(`${REPO}/packages/backup-repository/src/stores/s3-store.ts`, 'utf8');
    const sent = [...source.matchAll(/sdkPackages\.s3\(\)\.([A-Za-z0-9]+)Command\b/g)].map((m) => m[1]!);
    expect(sent.length, 'the S3 store sends S3 commands').toBeGreaterThan(0);
    const known = new Set(S3_CALLS.map((c) => c.operation));
    expect([...new Set(sent)].filter((operation) => !known.has(operation))).toEqual([]);
  });

  it('the worker role (API and snapshot worker) needs s3:GetObject and s3:ListBucket only: no write', () => {
    expect(workerRepositoryActions()).toEqual(['s3:GetObject', 's3:ListBucket']);
  });
});

describe('generated policies for an S3 repository', () => {
  const policy = generatedWorkerPolicy(LOCATION);

  it('let the worker role make every request a restore makes on the repository', () => {
    for (const request of repositoryRequests(LOCATION, 'rp-20261203T120000Z-0123abcd')) {
      expect(allows(policy, request.action, request.resource, request.context), request.purpose).toBe(true);
    }
  });

  it('read nothing outside the prefix and write nothing', () => {
    expect(allows(policy, 's3:GetObject', 'arn:aws:s3:::acme-backups/prod/ec2/blocks/ab/ab12')).toBe(true);
    expect(allows(policy, 's3:GetObject', 'arn:aws:s3:::acme-backups/payroll/2026.csv')).toBe(false);
    expect(allows(policy, 's3:GetObject', 'arn:aws:s3:::acme-backups/prod/ec2-other/blocks/x')).toBe(false);
    expect(allows(policy, 's3:GetObject', 'arn:aws:s3:::other-bucket/prod/ec2/blocks/x')).toBe(false);
    expect(allows(policy, 's3:PutObject', 'arn:aws:s3:::acme-backups/prod/ec2/blocks/x')).toBe(false);
    expect(allows(policy, 's3:DeleteObject', 'arn:aws:s3:::acme-backups/prod/ec2/blocks/x')).toBe(false);
    expect(allows(policy, 's3:ListBucket', 'arn:aws:s3:::other-bucket')).toBe(false);
  });

  it('a repository that is the whole bucket reads the whole bucket', () => {
    const whole = generatedWorkerPolicy({ bucket: 'acme-backups', prefix: '' });
    expect(allows(whole, 's3:GetObject', 'arn:aws:s3:::acme-backups/restore-points/rp-1/manifest.json')).toBe(
      true,
    );
    expect(allows(whole, 's3:GetObject', 'arn:aws:s3:::other-bucket/restore-points/rp-1/manifest.json')).toBe(
      false,
    );
  });

  it('an SSE-KMS bucket key adds kms:Decrypt on that key only', () => {
    const key = `arn:aws:kms:${REGION}:${SOURCE}:key/bucket-key`;
    const withKey = generatedWorkerPolicy({ ...LOCATION, kmsKeyArn: key });
    expect(allows(withKey, 'kms:Decrypt', key)).toBe(true);
    expect(allows(policy, 'kms:Decrypt', key)).toBe(false);
  });

  it('a folder repository adds no S3 statement', () => {
    const actions = statementsOf(generatedWorkerPolicy()).flatMap((s) => [s.Action ?? []].flat());
    expect(actions.filter((a) => a.startsWith('s3:'))).toEqual([]);
  });
});

describe('repository.access', () => {
  const generated = generatedWorkerPolicy(LOCATION);

  it('is left out for a repository in a folder', () => {
    const facts = sameAccountFacts();
    expect(checkRepositoryAccess(facts)).toBeUndefined();
    expect(runChecks(facts).map((c) => c.id)).not.toContain('repository.access');
  });

  it('passes for a worker role holding the generated policy (and runChecks runs it)', () => {
    const check = runChecks(factsWith([generated])).find((c) => c.id === 'repository.access');
    expect(check).toMatchObject({ status: 'pass' });
    expect(check?.message).toContain('s3://acme-backups/prod/ec2');
  });

  it('fails for a role without S3 permissions, naming the role, the action, the resource and the statements to add', () => {
    const check = checkRepositoryAccess(factsWith([allowAllKms, allowAllEc2]));
    expect(check?.status).toBe('fail');
    expect(check?.message).toContain(WORKER_ROLE);
    expect(check?.message).toContain('s3:GetObject on arn:aws:s3:::acme-backups/prod/ec2/blocks/*');
    expect(check?.message).toContain('s3:ListBucket on arn:aws:s3:::acme-backups');
    expect(check?.remedy?.policy?.attachTo).toBe(`IAM policy of ${WORKER_ROLE}`);
    // The remedy's statements, applied, make the check pass.
    const fixed = { Statement: check?.remedy?.policy?.statements as PolicyStatement[] };
    expect(checkRepositoryAccess(factsWith([allowAllEc2, fixed]))?.status).toBe('pass');
    expect(check?.remedy?.commands?.[0]).toContain('aws iam put-role-policy --role-name ec2-restore-worker');
  });

  it('fails when a statement denies the blocks, naming the statement', () => {
    const deny: PolicyDocument = {
      Statement: [
        {
          Sid: 'NoBlocks',
          Effect: 'Deny',
          Action: 's3:GetObject',
          Resource: 'arn:aws:s3:::acme-backups/*/blocks/*',
        },
      ],
    };
    const check = checkRepositoryAccess(factsWith([generated, deny]));
    expect(check?.status).toBe('fail');
    expect(check?.message).toContain('the snapshot worker reads the blocks; denied by statement NoBlocks');
    expect(check?.message).not.toContain('manifest.json');
  });

  it('fails for read access to the wrong prefix', () => {
    const elsewhere = generatedWorkerPolicy({ bucket: 'acme-backups', prefix: 'staging' });
    expect(checkRepositoryAccess(factsWith([elsewhere]))?.status).toBe('fail');
  });

  it('warns when s3:ListBucket is limited by prefix: missing objects would answer AccessDenied', () => {
    const prefixOnly: PolicyDocument = {
      Statement: [
        ...statementsOf(generated).filter((s) => s.Sid !== 'BackupRepositoryList'),
        {
          Effect: 'Allow',
          Action: 's3:ListBucket',
          Resource: 'arn:aws:s3:::acme-backups',
          Condition: { StringLike: { 's3:prefix': 'prod/ec2/*' } },
        },
      ],
    };
    const check = checkRepositoryAccess(factsWith([prefixOnly]));
    expect(check?.status).toBe('warn');
    expect(check?.message).toContain('AccessDenied instead of "not found"');
  });

  it('warns when the IAM policies could not be read, with the statements to make sure of', () => {
    const check = checkRepositoryAccess(factsWith(undefined));
    expect(check?.status).toBe('warn');
    expect(check?.remedy?.policy?.statements).toHaveLength(2);
  });

  it('passes for the account root user, which IAM policies do not limit', () => {
    const facts = factsWith([]);
    facts.worker = { principal: { identity: { arn: `arn:aws:iam::${SOURCE}:root`, accountId: SOURCE } } };
    expect(checkRepositoryAccess(facts)?.status).toBe('pass');
  });
});
