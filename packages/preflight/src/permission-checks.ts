import type { Check, Remedy } from '@ec2-restore/contracts';
import { parseCaller } from './caller.ts';
import type { PreflightFacts, PrincipalFacts } from './facts.ts';
import { evaluateIdentityPolicies, statementsOf } from './policy-evaluator.ts';
import type { PolicyDocument } from './policy-types.ts';
import { type StepAction, type StepPrincipal, type StepShape, stepActions } from './step-actions.ts';

/*
 * `permissions.worker-role` and `permissions.restore-role`: every EC2 and EBS direct action the
 * steps will call, checked as the principal that will call it. EC2 actions were tried with DryRun
 * (AWS's own answer, which also sees permission boundaries and SCPs); an action DryRun could not
 * decide, and the EBS direct actions, which have no DryRun, are decided by evaluating the
 * principal's IAM identity policies the way the KMS checks do. sts:AssumeRole is checked by
 * `restore-role-assumable` (the pre-flight really assumes the role), the KMS actions by the
 * `*.access.*` checks.
 */

export type ActionVerdict = 'allowed' | 'denied' | 'unknown';

export interface ActionDecision {
  action: string;
  verdict: ActionVerdict;
  /** For a person: what decided. */
  basis: string;
}

/** The same policies with every Resource `*` and no conditions: "does any statement name the action?" */
export function actionOnly(policies: readonly PolicyDocument[]): PolicyDocument[] {
  return policies.map((policy) => ({
    Statement: statementsOf(policy).map(({ Resource: _r, NotResource: _n, Condition: _c, ...rest }) => ({
      ...rest,
      Resource: '*',
    })),
  }));
}

/** Decides one action for one principal from its DryRun answer, else its IAM policies. */
export function decideAction(principal: PrincipalFacts, action: string): ActionDecision {
  const caller = {
    arn: principal.identity.arn,
    ...(principal.roleArn ? { roleArn: principal.roleArn } : {}),
  };
  const dry = principal.dryRun?.[action];
  if (dry?.outcome === 'denied') return { action, verdict: 'denied', basis: `DryRun answered ${dry.code}` };
  if (dry?.outcome === 'allowed') return { action, verdict: 'allowed', basis: `DryRun answered ${dry.code}` };
  // https://docs.aws.amazon.com/IAM/latest/UserGuide/id_root-user.html: IAM policies do not limit it.
  if (parseCaller(caller).kind === 'root')
    return { action, verdict: 'allowed', basis: 'the account root user is not limited by IAM policies' };
  const policies = principal.identityPolicies;
  if (!policies) {
    return {
      action,
      verdict: 'unknown',
      basis: dry
        ? `DryRun answered ${dry.code} and the IAM policies could not be read`
        : 'no DryRun for this action and the IAM policies could not be read',
    };
  }
  const request = { caller, action, resource: '*' };
  const exact = evaluateIdentityPolicies(policies, request);
  if (exact.explicitDeny.length > 0)
    return {
      action,
      verdict: 'denied',
      basis: `denied by statement ${exact.explicitDeny[0]} of its IAM policies`,
    };
  if (exact.allow.length > 0)
    return {
      action,
      verdict: 'allowed',
      basis: `allowed by statement ${exact.allow[0]} of its IAM policies`,
    };
  const loose = evaluateIdentityPolicies(actionOnly(policies), request);
  if (loose.allow.length > 0) {
    return {
      action,
      verdict: 'unknown',
      basis: `statement ${loose.allow[0]} allows it only for some resources or under conditions`,
    };
  }
  return { action, verdict: 'denied', basis: 'no statement of its IAM policies allows it' };
}

const labels: Record<StepPrincipal, string> = {
  'worker-role': 'worker role',
  'restore-role': 'restore role',
};

function principalOf(facts: PreflightFacts, who: StepPrincipal): PrincipalFacts | undefined {
  return who === 'worker-role' ? facts.worker.principal : facts.restoreRole?.principal;
}

/** The exact statement that adds the missing actions, for the principal's IAM policy. */
function missingActionsRemedy(principalArn: string, actions: readonly StepAction[], summary: string): Remedy {
  const statement = {
    Sid: 'Ec2RestoreStepActions',
    Effect: 'Allow' as const,
    Action: actions.map((a) => a.action),
    Resource: '*',
  };
  const roleName = principalArn.split('/').at(-1) ?? 'ROLE';
  const document = JSON.stringify({ Version: '2012-10-17', Statement: [statement] });
  return {
    summary,
    policy: { attachTo: `IAM policy of ${principalArn}`, statements: [statement] },
    commands: [
      `aws iam put-role-policy --role-name ${roleName} --policy-name ec2-restore-step-actions --policy-document '${document}'`,
    ],
    links: ['https://docs.aws.amazon.com/AWSEC2/latest/APIReference/CommonParameters.html'],
  };
}

/** `permissions.worker-role` / `permissions.restore-role`. */
export function checkStepPermissions(
  facts: PreflightFacts,
  shape: StepShape,
  who: StepPrincipal,
): Check | undefined {
  const id = who === 'worker-role' ? 'permissions.worker-role' : 'permissions.restore-role';
  const needed = stepActions(shape).filter((a) => a.principal === who && !a.action.startsWith('sts:'));
  if (needed.length === 0) return undefined;
  const principal = principalOf(facts, who);
  if (!principal) {
    if (who === 'restore-role' && !facts.restoreRole) return undefined;
    return {
      id,
      status: 'warn',
      message: `Not checked: the ${labels[who]} is not available (see ${who === 'worker-role' ? 'worker-identity' : 'restore-role-assumable'}).`,
      remedy: null,
    };
  }
  const principalArn = parseCaller({
    arn: principal.identity.arn,
    ...(principal.roleArn ? { roleArn: principal.roleArn } : {}),
  }).principalArn;
  const decisions = needed.map((a) => ({ need: a, decision: decideAction(principal, a.action) }));
  const denied = decisions.filter((d) => d.decision.verdict === 'denied');
  const unknown = decisions.filter((d) => d.decision.verdict === 'unknown');
  const describe = (list: typeof decisions) =>
    list.map((d) => `${d.need.action} (${d.need.calledBy.join(', ')}; ${d.decision.basis})`).join(', ');
  if (denied.length > 0) {
    return {
      id,
      status: 'fail',
      message: `The ${labels[who]} ${principalArn} may not call ${describe(denied)}. The restore would stop at that call, and a failed restore could not clean up after itself.`,
      remedy: missingActionsRemedy(
        principalArn,
        denied.map((d) => d.need),
        `Add this statement to the IAM policy of ${principalArn} (and lift any permission boundary or SCP that denies it).`,
      ),
    };
  }
  if (unknown.length > 0) {
    return {
      id,
      status: 'warn',
      message: `The ${labels[who]} ${principalArn} may call the other ${needed.length - unknown.length} actions its steps need, but these could not be verified: ${describe(unknown)}.`,
      remedy: missingActionsRemedy(
        principalArn,
        unknown.map((d) => d.need),
        `Make sure the IAM policy of ${principalArn} allows these, or let it read its own policies (iam:GetRolePolicy, iam:ListRolePolicies, iam:ListAttachedRolePolicies, iam:GetPolicy, iam:GetPolicyVersion) so the pre-flight can tell.`,
      ),
    };
  }
  const tried = decisions.filter((d) => principal.dryRun?.[d.need.action]?.outcome === 'allowed').length;
  return {
    id,
    status: 'pass',
    message: `The ${labels[who]} ${principalArn} may call the ${needed.length} EC2 and EBS actions its steps need (${tried} confirmed by DryRun, the others by its IAM policies).`,
    remedy: null,
  };
}
