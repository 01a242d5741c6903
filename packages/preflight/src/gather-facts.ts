import { type RestoreRequest, transferKeyAliasFor } from '@ec2-restore/contracts';
import type { AwsErrorFact, PreflightFacts, RestorePointFacts, RestoreRoleFacts } from './facts.ts';
import { gatherSourceDefaultKey, keyFacts } from './gather-key-facts.ts';
import { probeWithDryRun, probeZone } from './gather-permissions.ts';
import { callerIdentity, roleDetails } from './gather-principal-facts.ts';
import { gatherTarget } from './gather-target-facts.ts';
import type { Gathering } from './gathering.ts';
import { type StepPrincipal, stepActions } from './step-actions.ts';

export { gatherKeyFacts } from './gather-key-facts.ts';
export type { Gathering, Http } from './gathering.ts';

/*
 * The AWS reads behind the pre-flight checks. Independent reads run at the same time (a plan costs
 * a few round trips, not one per call); each fact goes through `g.fact` (gathering.ts), which caches what rarely
 * changes for a short while and names what is still outstanding when the plan's deadline passes.
 */

/**
 * How long the plan waits for the DryRun answers. Without them the checks decide from the IAM
 * policies (and warn where those cannot tell), so a slow DryRun never holds up a plan.
 */
const DRY_RUN_BUDGET_MS = 4_000;

/** The value, or undefined when it takes longer than `ms` (a failure also gives undefined). */
async function atMost<T>(ms: number, value: Promise<T>): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), ms);
  });
  try {
    return await Promise.race([value.catch(() => undefined), late]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Collects the facts of the pre-flight checks within one gathering (a PreflightSession plan): the
 * worker role (the session's source credentials) for identity and the source default key, the
 * restore role (STS AssumeRole with the ExternalId) for the target account. Refusals are recorded,
 * never thrown; only the deadline and the EC2 call budget end a gathering early.
 */
export async function gatherFactsWith(
  g: Gathering,
  request: RestoreRequest,
  restorePoint: RestorePointFacts,
): Promise<PreflightFacts> {
  const region = request.target.region;
  const worker = {
    scope: { key: `worker@${region}`, name: 'worker role' },
    clients: g.workerClients(region),
    inRegion: (other: string) => g.workerClients(other),
  };
  const roleArn = request.target.roleArn;
  const externalId = request.target.externalId;
  const restore = roleArn
    ? {
        // The ExternalId is part of the key (another one may be refused) but never of a message.
        scope: { key: `${roleArn}|${externalId ?? ''}@${region}`, name: roleArn },
        clients: g.restoreRoleClients(region, roleArn, externalId),
        inRegion: (other: string) => g.restoreRoleClients(other, roleArn, externalId),
      }
    : undefined;

  // Who each side is: the two identities (and the AssumeRole behind the second) at once.
  const [workerIdentity, restoreIdentity] = await Promise.all([
    callerIdentity(g, worker.scope, worker.clients),
    restore ? callerIdentity(g, restore.scope, restore.clients) : undefined,
  ]);
  const crossAccount =
    workerIdentity.ok && workerIdentity.principal.identity.accountId !== request.target.accountId;
  const target = restore && restoreIdentity?.ok ? restore : crossAccount ? undefined : worker;

  // Every EC2 action each principal's steps will call, tried with DryRun as that principal.
  const shape = {
    mode: crossAccount ? ('cross-account' as const) : ('same-account' as const),
    dataPath: request.dataPath,
    kmsGrant: request.kmsGrant,
    hasRestoreRole: roleArn !== undefined,
    ...(request.verify ? { verify: true } : {}),
  };
  const dryRunActionsOf = (s: typeof shape, who: StepPrincipal) =>
    stepActions(s)
      .filter((a) => a.principal === who && a.dryRun)
      .map((a) => a.action);
  const dryRun = (side: typeof worker, who: StepPrincipal) =>
    g.fact(
      `DryRun of the ${side.scope.name}'s EC2 actions`,
      `dry-run|${side.scope.key}|${shape.mode}|${shape.dataPath}|${shape.kmsGrant}|${shape.hasRestoreRole}`,
      'changing',
      async (http) =>
        probeWithDryRun(
          side.clients.ec2,
          dryRunActionsOf(shape, who),
          await probeZone(side.clients.ec2, region, http),
          http,
        ),
    );

  // Then everything else at once: the roles' policies, the target's facts, the source default key.
  const transferKeyAlias =
    crossAccount && request.transferKey && roleArn ? transferKeyAliasFor(roleArn) : undefined;
  const [
    workerPrincipal,
    restorePrincipal,
    targetFacts,
    sourceDefaultKey,
    workerDryRun,
    restoreDryRun,
    transferKey,
  ] = await Promise.all([
    workerIdentity.ok ? roleDetails(g, worker.scope, worker.clients, workerIdentity.principal) : undefined,
    restore && restoreIdentity?.ok
      ? roleDetails(g, restore.scope, restore.clients, restoreIdentity.principal)
      : undefined,
    target ? gatherTarget(g, request, restorePoint, target) : undefined,
    crossAccount ? gatherSourceDefaultKey(g, worker.scope, worker.clients, region) : undefined,
    workerIdentity.ok ? atMost(DRY_RUN_BUDGET_MS, dryRun(worker, 'worker-role')) : undefined,
    restore && restoreIdentity?.ok ? atMost(DRY_RUN_BUDGET_MS, dryRun(restore, 'restore-role')) : undefined,
    // The transfer key by its alias (NotFoundException: it is created on first use).
    transferKeyAlias ? keyFacts(g, worker.scope, worker.clients, transferKeyAlias) : undefined,
  ]);
  if (workerPrincipal && workerDryRun) workerPrincipal.dryRun = workerDryRun;
  if (restorePrincipal && restoreDryRun) restorePrincipal.dryRun = restoreDryRun;

  const facts: PreflightFacts = {
    request,
    worker: workerPrincipal
      ? { principal: workerPrincipal }
      : { identityError: (workerIdentity as { error: AwsErrorFact }).error },
    targetKey: { requested: request.target.kmsKeyId },
    restorePoint,
  };
  if (roleArn) {
    const role: RestoreRoleFacts = {
      roleArn,
      ...(request.target.externalId ? { externalId: request.target.externalId } : {}),
    };
    if (restorePrincipal) {
      role.principal = { ...restorePrincipal, roleArn: restorePrincipal.roleArn ?? roleArn };
    } else if (restoreIdentity && !restoreIdentity.ok) {
      role.assumeError = restoreIdentity.error;
    }
    facts.restoreRole = role;
  }
  if (targetFacts) {
    Object.assign(facts, targetFacts);
  } else {
    facts.targetKey.describeError = {
      code: 'NotChecked',
      message: 'the target account could not be reached (see restore-role-assumable)',
    };
  }
  if (sourceDefaultKey) facts.sourceDefaultKey = sourceDefaultKey;
  if (transferKey) facts.transferKey = transferKey;
  return facts;
}
