import type { PlanResult, RestoreRequest } from '@ec2-restore/contracts';
import { type GatherContext, withOneOffSession } from './preflight-session.ts';

/** What plan() needs besides the request: credentials, endpoint and the restore point's contents. */
export type PlanContext = GatherContext;

/**
 * The dry run of a restore (`POST /v1/restores/plan`, and before `POST /v1/restores` and each
 * worker step): gathers the facts from AWS with the credentials each step uses, runs every check,
 * and lists the steps and the resources they would create. Creates nothing; never throws for an
 * AWS refusal (it becomes a failing check); throws PreflightDeadlineError past its deadline. A
 * long-lived process should keep a PreflightSession instead (clients and facts are reused).
 *
 * @example
 * const result = await plan(request, { restorePoint, sourceCredentials });
 * if (!result.ok) reply(422, apiError('preflight_failed', '…', { checks: result.checks }));
 */
export async function plan(request: RestoreRequest, context: PlanContext): Promise<PlanResult> {
  return withOneOffSession(
    context,
    async (session) => (await session.plan(request, context.restorePoint)).result,
  );
}
