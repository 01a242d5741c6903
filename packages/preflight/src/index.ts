/**
 * Pre-flight checks of ec2-restore: KMS key policy evaluation, the checks of docs/architecture.md#pre-flight-checks as
 * pure functions over facts, the least-privilege policy generator, and `plan()`, which gathers the
 * facts from AWS with the credentials each step uses.
 */
export type { ParsedCaller } from './caller.ts';
export { parseCaller } from './caller.ts';
export * from './checks.ts';
export { FactCache } from './fact-cache.ts';
export type * from './facts.ts';
export type { Gathering, Http } from './gather-facts.ts';
export { gatherFactsWith, gatherKeyFacts } from './gather-facts.ts';
export { dryRunnableActions, dryRunOutcome } from './gather-permissions.ts';
export { isAwsOutage } from './gathering.ts';
export * from './operations.ts';
export * from './permission-checks.ts';
export type { PlanContext } from './plan.ts';
export { plan } from './plan.ts';
export * from './plan-steps.ts';
export * from './policy-evaluator.ts';
export * from './policy-generator.ts';
export type * from './policy-types.ts';
export type { GatherContext, PreflightSessionOptions } from './preflight-session.ts';
export { gatherFacts, PreflightDeadlineError, PreflightSession } from './preflight-session.ts';
export * from './repository-access.ts';
export * from './requirements.ts';
export * from './step-actions.ts';
export { matchesArnPattern, matchesWildcard } from './wildcard.ts';
