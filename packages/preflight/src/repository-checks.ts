import type { Check, Remedy } from '@ec2-restore/contracts';
import { parseCaller } from './caller.ts';
import { fail, pass, warn } from './check-result.ts';
import type { PreflightFacts } from './facts.ts';
import { evaluateIdentityPolicies } from './policy-evaluator.ts';
import type { Caller, PolicyDocument } from './policy-types.ts';
import {
  type RepositoryRequest,
  repositoryReadStatements,
  repositoryRequests,
  type S3RepositoryLocation,
} from './repository-access.ts';

/*
 * `repository.access`: with the backup repository in S3, the worker role (the API and the snapshot
 * worker run as it) may make every S3 request a restore makes on it, decided by evaluating its IAM
 * identity policies (S3 has no DryRun). A bucket policy is not read here (that needs
 * s3:GetBucketPolicy, which the product has no other use for): the API reads the repository as the
 * worker role before the plan (the catalogue or the manifest), so a refusal by the bucket policy shows there.
 */

const s3Links = [
  'https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html',
  'https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListObjectsV2.html',
  'https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazons3.html',
];

type Verdict = { request: RepositoryRequest; allowed: boolean; basis: string };

function decide(policies: readonly PolicyDocument[], caller: Caller, request: RepositoryRequest): Verdict {
  const evaluation = evaluateIdentityPolicies(policies, {
    caller,
    action: request.action,
    resource: request.resource,
    ...(request.context ? { context: request.context } : {}),
  });
  if (evaluation.explicitDeny.length > 0)
    return { request, allowed: false, basis: `denied by statement ${evaluation.explicitDeny[0]}` };
  if (evaluation.allow.length > 0)
    return { request, allowed: true, basis: `allowed by statement ${evaluation.allow[0]}` };
  return { request, allowed: false, basis: 'no statement of its IAM policies allows it' };
}

/** The statements to add, as a remedy naming the role and the command. */
export function repositoryRemedy(
  principalArn: string,
  location: S3RepositoryLocation,
  summary: string,
): Remedy {
  const statements = repositoryReadStatements(location);
  const roleName = principalArn.split('/').at(-1) ?? 'ROLE';
  const document = JSON.stringify({ Version: '2012-10-17', Statement: statements });
  return {
    summary,
    policy: { attachTo: `IAM policy of ${principalArn}`, statements },
    commands: [
      `aws iam put-role-policy --role-name ${roleName} --policy-name ec2-restore-backup-repository --policy-document '${document}'`,
    ],
    links: s3Links,
  };
}

const describe = (verdicts: Verdict[]) =>
  verdicts
    .map((v) => `${v.request.action} on ${v.request.resource} (${v.request.purpose}; ${v.basis})`)
    .join(', ');

/** `repository.access`; undefined when the repository is not in S3. */
export function checkRepositoryAccess(
  facts: Pick<PreflightFacts, 'worker' | 'request' | 'restorePoint'>,
): Check | undefined {
  const location = facts.restorePoint.repository;
  if (!location) return undefined;
  const where = `s3://${location.bucket}${location.prefix ? `/${location.prefix}` : ''}`;
  const principal = facts.worker.principal;
  if (!principal) {
    return warn(
      'repository.access',
      `Not checked: the worker role is not available (see worker-identity).`,
      null,
    );
  }
  const caller = {
    arn: principal.identity.arn,
    ...(principal.roleArn ? { roleArn: principal.roleArn } : {}),
  };
  const parsed = parseCaller(caller);
  // https://docs.aws.amazon.com/IAM/latest/UserGuide/id_root-user.html: IAM policies do not limit it.
  if (parsed.kind === 'root')
    return pass(
      'repository.access',
      `The workers run as the account root user, which IAM policies do not limit: it may read ${where}.`,
    );
  const principalArn = parsed.principalArn;
  const policies = principal.identityPolicies;
  if (!policies) {
    return warn(
      'repository.access',
      `Could not verify that ${principalArn} may read the backup repository ${where}: its IAM policies could not be read.`,
      repositoryRemedy(
        principalArn,
        location,
        `Make sure the IAM policy of ${principalArn} holds these statements, or let it read its own policies (iam:GetRolePolicy, iam:ListRolePolicies, iam:ListAttachedRolePolicies, iam:GetPolicy, iam:GetPolicyVersion) so the pre-flight can tell.`,
      ),
    );
  }
  const verdicts = repositoryRequests(location, facts.request.restorePointId).map((r) =>
    decide(policies, caller, r),
  );
  const denied = verdicts.filter((v) => !v.allowed && !v.request.notFoundAnswers);
  const fix = `Add these statements to the IAM policy of ${principalArn} (generatePolicies writes them when given the repository as s3Repository), and check that the bucket policy does not deny them.`;
  if (denied.length > 0) {
    return fail(
      'repository.access',
      `The worker role ${principalArn} may not read the backup repository ${where}: ${describe(denied)}. The API and the snapshot worker run as this role; the restore would stop at that read.`,
      repositoryRemedy(principalArn, location, fix),
    );
  }
  const notFound = verdicts.filter((v) => !v.allowed);
  if (notFound.length > 0) {
    return warn(
      'repository.access',
      `The worker role ${principalArn} may read the backup repository ${where}, but not ${describe(notFound)}: S3 will answer AccessDenied instead of "not found" for a missing object, so an unknown restore point id answers AccessDenied and the catalogue fails while a backup is being written.`,
      repositoryRemedy(principalArn, location, fix),
    );
  }
  return pass(
    'repository.access',
    `The worker role ${principalArn} may read the backup repository ${where} (s3:GetObject on its objects, s3:ListBucket on its bucket), by its IAM policies.`,
  );
}
