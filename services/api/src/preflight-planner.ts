import type { Ec2CallBudgetOptions } from '@ec2-restore/aws-budget';
import type { AwsCredentials } from '@ec2-restore/aws-clients';
import {
  type BackupRepository,
  parseRepositoryLocation,
  RestorePointNotFoundError,
  type RestorePointSummary,
} from '@ec2-restore/backup-repository';
import type { RestoreRequest } from '@ec2-restore/contracts';
import {
  isAwsOutage,
  PreflightDeadlineError,
  PreflightSession,
  type S3RepositoryLocation,
} from '@ec2-restore/preflight';
import { type RestoreStore, recordAwsCalls } from '@ec2-restore/restore-state';
import type { PlannedRestore, RestorePlanner } from './deps.ts';
import { HttpError } from './http/api-error.ts';

export interface PreflightPlannerOptions {
  /** The restore points; with its `location` in S3, the plan checks that the worker role may read it. */
  repository: Pick<BackupRepository, 'getSummary'> & Partial<Pick<BackupRepository, 'location'>>;
  /** The region of the workers (AWS_REGION); the checks run in the request's target region. */
  region: string;
  /** The worker role's credentials. @defaultValue the SDK's default chain */
  credentials?: AwsCredentials;
  /** @defaultValue `process.env.AWS_ENDPOINT_URL` */
  endpoint?: string;
  /** Where the planner's own AWS calls are counted for /metrics. */
  awsCallRecorder?: Pick<RestoreStore, 'recordAwsCall'> & Partial<Pick<RestoreStore, 'recordAwsThrottle'>>;
  /**
   * The workers' EC2 call budget (same Redis): pre-flight's EC2 calls spend from it too.
   * @defaultValue no budget
   */
  ec2Budget?: Pick<Ec2CallBudgetOptions, 'redis' | 'limits'>;
  /** Longest one plan may take. @defaultValue 10000 */
  deadlineMs?: number;
  /**
   * How long slow-changing facts (identities, role policies, keys, network) are shared between plans;
   * 0 turns the cache off. @defaultValue 30000
   */
  cacheTtlMs?: number;
}

/**
 * The pre-flight checks with the credentials the steps will use: the worker role's (this process
 * runs with the same role as the workers) and, for another account, the restore role it assumes.
 * One PreflightSession serves every request: its clients, assumed-role sessions and cached facts are
 * reused, so a plan costs a few AWS round trips (none for what was read moments ago).
 */
export class PreflightPlanner implements RestorePlanner {
  private readonly session: PreflightSession;
  private readonly s3Repository: S3RepositoryLocation | undefined;

  constructor(private readonly options: PreflightPlannerOptions) {
    const location = options.repository.location;
    const parsed = location ? parseRepositoryLocation(location) : undefined;
    this.s3Repository = parsed?.kind === 's3' ? { bucket: parsed.bucket, prefix: parsed.prefix } : undefined;
    const recorder = options.awsCallRecorder;
    this.session = new PreflightSession({
      ...(options.credentials ? { sourceCredentials: options.credentials } : {}),
      ...(options.endpoint ? { endpoint: options.endpoint } : {}),
      ...(options.ec2Budget ? { ec2Budget: options.ec2Budget } : {}),
      ...(options.deadlineMs !== undefined ? { deadlineMs: options.deadlineMs } : {}),
      ...(options.cacheTtlMs !== undefined ? { cacheTtlMs: options.cacheTtlMs } : {}),
      sessionName: 'ec2-restore-api-preflight',
      ...(recorder
        ? {
            onClientsCreated: (clients, scope) => {
              for (const client of [clients.sts, clients.ec2, clients.kms, clients.iam]) {
                recordAwsCalls(client, recorder, scope);
              }
            },
          }
        : {}),
    });
  }

  async plan(request: RestoreRequest): Promise<PlannedRestore> {
    const restorePoint = await this.restorePointOf(request);
    try {
      const { result, facts } = await this.session.plan(request, {
        instance: restorePoint.instance,
        volumes: restorePoint.volumes,
        ...(this.s3Repository ? { repository: this.s3Repository } : {}),
      });
      return {
        plan: result,
        restorePoint,
        sourceAccountId: facts.worker.principal?.identity.accountId ?? null,
      };
    } catch (err) {
      throw planError(err);
    }
  }

  /**
   * Readies the worker role's clients and identity in the workers' region before the first request
   * (PreflightSession.warm). Rejects with what failed; the first plan then asks again and reports it.
   */
  warm(): Promise<void> {
    return this.session.warm(this.options.region);
  }

  /** Closes the AWS clients' sockets. */
  close(): void {
    this.session.close();
  }

  private async restorePointOf(request: RestoreRequest): Promise<RestorePointSummary> {
    try {
      return await this.options.repository.getSummary(request.restorePointId);
    } catch (err) {
      if (err instanceof RestorePointNotFoundError) {
        // Not err.message: it names the repository's location, which is the operator's business.
        throw new HttpError('restore_point_not_found', restorePointMissing(err.restorePointId), {
          issues: [
            { path: 'restorePointId', message: 'no such restore point (GET /v1/restore-points lists them)' },
          ],
        });
      }
      throw repositoryReadError(err);
    }
  }
}

/** A read of the backup repository failed: S3's refusal becomes 403 access_denied, anything else stays. */
export function repositoryReadError(err: unknown): unknown {
  return isAccessDenied(err) ? repositoryRefused(err as Error) : err;
}

/** S3's refusal: AccessDenied (a HEAD answer has no body, so only its 403). */
function isAccessDenied(err: unknown): boolean {
  const e = err as { name?: string; $metadata?: { httpStatusCode?: number } } | null;
  return e?.name === 'AccessDenied' || (e?.name === 'Forbidden' && e.$metadata?.httpStatusCode === 403);
}

/**
 * The worker role may not read the repository (the catalogue's listing, a manifest): its IAM policy, or the bucket's policy
 * (which the pre-flight cannot read), refuses it. An operator's fix; the message names the action
 * AWS refused but not the bucket (the repository's location is the operator's business).
 */
function repositoryRefused(err: Error): HttpError {
  const action = /perform: ([a-z0-9-]+:[A-Za-z]+)/.exec(err.message)?.[1] ?? 's3:GetObject';
  return new HttpError(
    'access_denied',
    `The backup repository refused the API a read (${action}, AccessDenied). An operator must allow the worker role, which the API and the snapshot worker run as, s3:GetObject on the repository's objects and s3:ListBucket on its bucket (the statements generatePolicies writes for s3Repository; with an SSE-KMS bucket key, kms:Decrypt on it), in its IAM policy and in the bucket policy.`,
    { action },
  );
}

/** The deadline, the call budget and an AWS outage end a plan with an answer a person can act on. */
function planError(err: unknown): unknown {
  if (err instanceof PreflightDeadlineError) {
    return new HttpError('preflight_timeout', err.message, {
      deadlineMs: err.deadlineMs,
      outstanding: err.outstanding,
    });
  }
  if ((err as { name?: string } | null)?.name === 'Ec2CallBudgetTimeoutError') {
    return new HttpError('throttled', (err as Error).message);
  }
  if (isAwsOutage(err)) {
    // Throttling or a 5xx after the SDK's retries says nothing about the request: try again.
    const { name, message } = err as Error;
    return new HttpError(
      'service_unavailable',
      `AWS answered ${name} during the pre-flight checks (${message}); nothing was created. Try again.`,
    );
  }
  return err;
}

/** The client's message for a restore point that is not in the repository (no location in it). */
export function restorePointMissing(restorePointId: string): string {
  return `Restore point '${restorePointId}' does not exist in the backup repository; GET /v1/restore-points lists the ones there are`;
}
