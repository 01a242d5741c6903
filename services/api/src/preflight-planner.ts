import { GetCallerIdentityCommand } from '@aws-sdk/client-sts';
import { type AwsCredentials, createAwsClients } from '@ec2-restore/aws-clients';
import {
  type BackupRepository,
  RestorePointNotFoundError,
  type RestorePointSummary,
} from '@ec2-restore/backup-repository';
import type { RestoreRequest } from '@ec2-restore/contracts';
import { plan } from '@ec2-restore/preflight';
import { type RestoreStore, recordAwsCalls } from '@ec2-restore/restore-state';
import type { PlannedRestore, RestorePlanner } from './deps.ts';
import { HttpError } from './http/api-error.ts';

export interface PreflightPlannerOptions {
  repository: Pick<BackupRepository, 'getSummary'>;
  /** The region of the workers (AWS_REGION); the checks run in the request's target region. */
  region: string;
  /** The worker role's credentials. @defaultValue the SDK's default chain */
  credentials?: AwsCredentials;
  /** @defaultValue `process.env.AWS_ENDPOINT_URL` */
  endpoint?: string;
  /** Where the planner's own AWS calls are counted for /metrics. */
  awsCallRecorder?: Pick<RestoreStore, 'recordAwsCall' | 'recordAwsThrottle'>;
}

/**
 * The pre-flight checks with the credentials the steps will use: the worker role's (this process
 * runs with the same role as the workers) and, for another account, the restore role it assumes.
 */
export class PreflightPlanner implements RestorePlanner {
  constructor(private readonly options: PreflightPlannerOptions) {}

  async plan(request: RestoreRequest): Promise<PlannedRestore> {
    const restorePoint = await this.restorePointOf(request);
    const result = await plan(request, {
      restorePoint: {
        instance: restorePoint.instance,
        volumes: restorePoint.volumes,
      },
      ...(this.options.credentials ? { sourceCredentials: this.options.credentials } : {}),
      ...(this.options.endpoint ? { endpoint: this.options.endpoint } : {}),
      sessionName: 'ec2-restore-api-preflight',
    });
    return { plan: result, restorePoint, sourceAccountId: await this.workerAccountId(request.target.region) };
  }

  private async restorePointOf(request: RestoreRequest): Promise<RestorePointSummary> {
    try {
      return await this.options.repository.getSummary(request.restorePointId);
    } catch (err) {
      if (err instanceof RestorePointNotFoundError) {
        throw new HttpError('restore_point_not_found', err.message, {
          issues: [
            { path: 'restorePointId', message: 'no such restore point (GET /v1/restore-points lists them)' },
          ],
        });
      }
      throw err;
    }
  }

  /** The account of the worker role (STS GetCallerIdentity), or null when the credentials fail. */
  private async workerAccountId(region: string): Promise<string | null> {
    const clients = createAwsClients({
      region,
      ...(this.options.credentials ? { credentials: this.options.credentials } : {}),
      ...(this.options.endpoint ? { endpoint: this.options.endpoint } : {}),
    });
    if (this.options.awsCallRecorder) recordAwsCalls(clients.sts, this.options.awsCallRecorder, { region });
    try {
      const identity = await clients.sts.send(new GetCallerIdentityCommand({}));
      return identity.Account ?? null;
    } catch {
      return null;
    } finally {
      clients.destroy();
    }
  }
}
