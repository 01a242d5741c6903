import type { PlanResult } from '@ec2-restore/contracts';
import { HttpError } from '../http/api-error.ts';

/** The 422 `preflight_failed` error: the message names each failing check and its remedy. */
export function preflightFailed(plan: PlanResult): HttpError {
  const failing = plan.checks.filter((check) => check.status === 'fail');
  const summary = failing
    .map((check) => `${check.id}: ${check.message}${check.remedy ? ` Fix: ${check.remedy.summary}` : ''}`)
    .join(' | ');
  return new HttpError('preflight_failed', `Pre-flight checks failed, nothing was created. ${summary}`, {
    checks: plan.checks,
    failed: failing.map((check) => check.id),
    mode: plan.mode,
  });
}
