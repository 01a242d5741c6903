import { type RestoreRequest, transferKeyAliasFor } from '@ec2-restore/contracts';
import type { AwsErrorFact, PreflightFacts, RestorePointFacts, RestoreRoleFacts } from './facts.ts';
import { gatherSourceDefaultKey, keyFacts } from './gather-key-facts.ts';
import { probeWithDryRun, probeZone } from './gather-permissions.ts';
import { callerIdentity, roleDetails } from './gather-principal-facts.ts';
import { gatherTarget } from './gather-target-facts.ts';
import type { Gathering, Scope } from './gathering.ts';
import { type StepPrincipal, stepActions } from './step-actions.ts';

export { gatherKeyFacts } from './gather-key-facts.ts';
export type { Gathering, Http } from './gathering.ts';

/*
 * The AWS reads behind the pre-flight checks. Independent reads run at the same time (a plan costs
 * a few round trips, not one per call); each fact goes through `g.fact` (gathering.ts), which caches what rarely
 * changes for a short while and names what is still outstanding when the plan's deadline passes.
 */

/**
 * How long the plan waits for the DryRun answers unless its session says otherwise. Without them the
 * checks decide from the IAM policies (and warn where those cannot tell), so a slow DryRun never
 * holds up a plan.
 */
const DRY_RUN_WAIT_MS = 4_000;

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

/** Whose facts the worker role's are, in a region (PreflightSession.warm reads them too). */
export function workerScope(region: string): Scope {
  return { key: `worker@${region}`, name: 'worker role' };
}

/** What the steps will be, as far as the EC2 actions of each principal go (step-actions.ts). */
function stepShape(request: RestoreRequest, workerIdentity: Awaited<ReturnType<typeof callerIdentity>>) {
  const crossAccount =
    workerIdentity.ok && workerIdentity.principal.identity.accountId !== request.target.accountId;
  return {
    crossAccount,
    steps: {
      mode: crossAccount ? ('cross-account' as const) : ('same-account' as const),
      dataPath: request.dataPath,
      kmsGrant: request.kmsGrant,
      hasRestoreRole: request.target.roleArn !== undefined,
      ...(request.verify ? { verify: true } : {}),
    },
  };
}
type StepShape = ReturnType<typeof stepShape>['steps'];

/** A read started before it is known to be wanted: its failure is the caller's only if it uses it. */
function unlessUsed<T>(read: Promise<T>): Promise<T> {
  read.catch(() => {});
  return read;
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
    scope: workerScope(region),
    clients: g.workerClients(region),
    inRegion: (other: string) => g.workerClients(other),
  };
  const roleArn = request.target.roleArn;
  const externalId = request.target.externalId;
  const restore = roleArn
    ? {
        // The ExternalId is part of the key (another one may be refused) but never of a message.
        roleArn,
        scope: { key: `${roleArn}|${externalId ?? ''}@${region}`, name: roleArn },
        clients: g.restoreRoleClients(region, roleArn, externalId),
        inRegion: (other: string) => g.restoreRoleClients(other, roleArn, externalId),
      }
    : undefined;

  // Who each side is: the two identities at once. Every read as the restore role needs only its
  // credentials (the one AssumeRole its clients share), not GetCallerIdentity's answer, so those
  // reads start with it and count only when the role was assumed; a failed AssumeRole sends none.
  const workerIdentity = callerIdentity(g, worker.scope, worker.clients);
  const restoreIdentity = restore ? callerIdentity(g, restore.scope, restore.clients) : undefined;
  const shape = workerIdentity.then((identity) => stepShape(request, identity));
  const dryRun = (side: typeof worker, who: StepPrincipal, steps: StepShape) =>
    atMost(
      g.dryRunWaitMs ?? DRY_RUN_WAIT_MS,
      g.fact(
        `DryRun of the ${side.scope.name}'s EC2 actions`,
        `dry-run|${side.scope.key}|${steps.mode}|${steps.dataPath}|${steps.kmsGrant}|${steps.hasRestoreRole}`,
        'changing',
        (http) =>
          probeWithDryRun(
            side.clients.ec2,
            stepActions(steps)
              .filter((a) => a.principal === who && a.dryRun)
              .map((a) => a.action),
            // Only a probe that names a zone waits for one.
            { region, zone: () => probeZone(side.clients.ec2, region, http) },
            http,
          ),
      ),
    );
  const asRestoreRole = restore && {
    // The role the request names (GetCallerIdentity tells its session, not its policies).
    details: roleDetails(g, restore.scope, restore.clients, {
      identity: { arn: restore.roleArn, accountId: restore.roleArn.split(':')[4] ?? '' },
    }),
    target: unlessUsed(gatherTarget(g, request, restorePoint, restore)),
    dryRun: unlessUsed(shape.then(({ steps }) => dryRun(restore, 'restore-role', steps))),
  };

  // Then everything else at once: the roles' policies, the target's facts, the source default key.
  const [
    workerPrincipal,
    restorePrincipal,
    targetFacts,
    sourceDefaultKey,
    workerDryRun,
    restoreDryRun,
    transferKey,
  ] = await Promise.all([
    workerIdentity.then((identity) =>
      identity.ok ? roleDetails(g, worker.scope, worker.clients, identity.principal) : undefined,
    ),
    Promise.all([restoreIdentity, asRestoreRole?.details]).then(([identity, details]) =>
      identity?.ok && details ? { ...details, identity: identity.principal.identity } : undefined,
    ),
    Promise.all([restoreIdentity, shape]).then(([identity, { crossAccount }]) =>
      identity?.ok
        ? asRestoreRole?.target
        : crossAccount
          ? undefined
          : gatherTarget(g, request, restorePoint, worker),
    ),
    shape.then(({ crossAccount }) =>
      crossAccount ? gatherSourceDefaultKey(g, worker.scope, worker.clients, region) : undefined,
    ),
    Promise.all([workerIdentity, shape]).then(([identity, { steps }]) =>
      identity.ok ? dryRun(worker, 'worker-role', steps) : undefined,
    ),
    restoreIdentity?.then((identity) => (identity.ok ? asRestoreRole?.dryRun : undefined)),
    // The transfer key by its alias (NotFoundException: it is created on first use).
    shape.then(({ crossAccount }) =>
      crossAccount && request.transferKey && roleArn
        ? keyFacts(g, worker.scope, worker.clients, transferKeyAliasFor(roleArn))
        : undefined,
    ),
  ]);
  if (workerPrincipal && workerDryRun) workerPrincipal.dryRun = workerDryRun;
  if (restorePrincipal && restoreDryRun) restorePrincipal.dryRun = restoreDryRun;
  const [workerAnswer, restoreAnswer] = await Promise.all([workerIdentity, restoreIdentity]);

  const facts: PreflightFacts = {
    request,
    worker: workerPrincipal
      ? { principal: workerPrincipal }
      : { identityError: (workerAnswer as { error: AwsErrorFact }).error },
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
    } else if (restoreAnswer && !restoreAnswer.ok) {
      role.assumeError = restoreAnswer.error;
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
