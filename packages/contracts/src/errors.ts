import { z } from 'zod';

/** What kind of problem an error is: who can fix it, and whether a retry may help (`throttling`). */
export const errorCategories = [
  'input',
  'kms',
  'permission',
  'quota',
  'throttling',
  'aws',
  'internal',
] as const;
export const errorCategorySchema = z.enum(errorCategories);
export type ErrorCategory = z.infer<typeof errorCategorySchema>;

/**
 * Every error code of the API and of the restore steps, with its category and, for the API, its
 * HTTP status. The compiler makes every code declare both.
 */
export const errorCodes = {
  invalid_request: {
    category: 'input',
    httpStatus: 400,
    description: 'The body or a parameter is invalid; details.issues lists each field.',
  },
  unauthorized: {
    category: 'permission',
    httpStatus: 401,
    description: 'No bearer token, or not a configured one.',
  },
  forbidden: {
    category: 'permission',
    httpStatus: 403,
    description:
      "The token's role does not allow this route or action (API_TOKENS roles: read, operator, admin).",
  },
  rate_limited: {
    category: 'throttling',
    httpStatus: 429,
    description:
      'Too many requests or open event streams for this token or this API process; Retry-After says when to try again.',
  },
  not_found: { category: 'input', httpStatus: 404, description: 'No such restore or restore point.' },
  idempotency_conflict: {
    category: 'input',
    httpStatus: 409,
    description: 'The Idempotency-Key was used before with another body.',
  },
  restore_not_cancellable: {
    category: 'input',
    httpStatus: 409,
    description: 'The restore has already ended.',
  },
  preflight_failed: {
    category: 'input',
    httpStatus: 422,
    description: 'A pre-flight check failed; details.checks lists them all.',
  },
  restore_point_not_found: {
    category: 'input',
    httpStatus: 422,
    description: 'The restore point does not exist in the repository.',
  },
  restore_point_corrupt: {
    category: 'input',
    httpStatus: 422,
    description:
      'A block or block list of the restore point is missing or does not match its checksum; the message names the volume and block. Run `pnpm backup verify` and restore from an intact restore point.',
  },
  kms_key_not_found: {
    category: 'kms',
    httpStatus: 422,
    description: 'The KMS key does not exist or is not visible to the caller.',
  },
  kms_key_unusable: {
    category: 'kms',
    httpStatus: 422,
    description: 'The KMS key is disabled, pending deletion, or of the wrong kind.',
  },
  kms_access_denied: {
    category: 'kms',
    httpStatus: 422,
    description: 'A key policy or grant does not let the caller use the key.',
  },
  kms_key_not_shareable: {
    category: 'kms',
    httpStatus: 422,
    description: 'Snapshots encrypted with the AWS managed key aws/ebs cannot be shared.',
  },
  access_denied: {
    category: 'permission',
    httpStatus: 403,
    description: 'An IAM policy does not allow an action.',
  },
  assume_role_failed: {
    category: 'permission',
    httpStatus: 422,
    description: 'STS AssumeRole of the restore role was refused.',
  },
  quota_exceeded: {
    category: 'quota',
    httpStatus: 429,
    description: 'An AWS service quota (volumes, snapshots, instances) is reached.',
  },
  throttled: {
    category: 'throttling',
    httpStatus: 429,
    description: 'AWS throttled the request; it is retried with backoff.',
  },
  aws_error: {
    category: 'aws',
    httpStatus: 502,
    description: 'AWS answered with an error not covered by another code.',
  },
  volume_creation_failed: {
    category: 'kms',
    httpStatus: 502,
    description: 'AWS accepted CreateVolume but the volume failed, usually because of its KMS key.',
  },
  snapshot_failed: { category: 'aws', httpStatus: 502, description: 'A snapshot ended in the error state.' },
  verification_failed: {
    category: 'aws',
    httpStatus: 502,
    description:
      'A verified restore read the written data back and found blocks that differ from the restore point; error.verification names them.',
  },
  instance_launch_failed: {
    category: 'aws',
    httpStatus: 502,
    description: 'The instance could not be created or started.',
  },
  job_refused: {
    category: 'permission',
    httpStatus: 403,
    description:
      'A worker refused a job whose data is not what the API accepted after pre-flight (changed in Bull Board or Redis); nothing was done with it.',
  },
  cancelled: { category: 'input', httpStatus: 409, description: 'The restore was cancelled.' },
  timeout: {
    category: 'aws',
    httpStatus: 504,
    description:
      'A step waited on AWS longer than its limit (STEP_PENDING_LIMIT_MINUTES, e.g. an instance stuck pending); cleanup removed what the restore made.',
  },
  preflight_timeout: {
    category: 'aws',
    httpStatus: 504,
    description:
      'The pre-flight checks could not read AWS within their deadline; details.outstanding names what was still pending. Nothing was created; try again.',
  },
  internal_error: { category: 'internal', httpStatus: 500, description: 'A bug or an unexpected condition.' },
  service_unavailable: {
    category: 'internal',
    httpStatus: 503,
    description: 'Redis or another dependency is not reachable.',
  },
} as const satisfies Record<string, { category: ErrorCategory; httpStatus: number; description: string }>;

export type ErrorCode = keyof typeof errorCodes;
export const errorCodeSchema = z.enum(Object.keys(errorCodes) as [ErrorCode, ...ErrorCode[]]);

/** The category of an error code. */
export function categoryOf(code: ErrorCode): ErrorCategory {
  return errorCodes[code].category;
}

/** The body of every API error: `{"error": {"code", "message", "category", "details"}}`. */
export const apiErrorSchema = z.object({
  error: z.object({
    code: z.string().describe('One of the error codes; clients switch on it.'),
    message: z.string().describe('For a person: what went wrong and how to fix it.'),
    category: errorCategorySchema,
    details: z.record(z.string(), z.unknown()).describe('Code specific: issues, checks, awsRequestId…'),
  }),
});
export type ApiError = z.infer<typeof apiErrorSchema>;

/** One invalid field of a request: `path` like `target.accountId` or `volumes[1]`. */
export const validationIssueSchema = z.object({ path: z.string(), message: z.string() });
export type ValidationIssue = z.infer<typeof validationIssueSchema>;

/** Builds the error envelope for a code; the category comes from the code. */
export function apiError(code: ErrorCode, message: string, details: Record<string, unknown> = {}): ApiError {
  return { error: { code, message, category: categoryOf(code), details } };
}

/** Renders a zod issue path as `target.accountId` / `volumes[1]` (empty for the root). */
export function formatIssuePath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const segment of path) {
    if (typeof segment === 'number') out += `[${segment}]`;
    else out += out === '' ? String(segment) : `.${String(segment)}`;
  }
  return out;
}

/** Turns a zod error into `[{path, message}]`, one entry per invalid field. */
export function zodIssues(error: z.ZodError): ValidationIssue[] {
  return error.issues.map((issue) => ({ path: formatIssuePath(issue.path), message: issue.message }));
}

/**
 * The 400 `invalid_request` envelope for a zod error: `details.issues` lists each field with what is
 * expected, and the message names the first ones.
 */
export function invalidRequestError(error: z.ZodError): ApiError {
  const issues = zodIssues(error);
  const summary = issues
    .slice(0, 3)
    .map((issue) => `${issue.path || '(body)'}: ${issue.message}`)
    .join('; ');
  const more = issues.length > 3 ? ` (and ${issues.length - 3} more)` : '';
  return apiError('invalid_request', `The request is invalid: ${summary}${more}`, { issues });
}
