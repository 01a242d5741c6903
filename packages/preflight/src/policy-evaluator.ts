import { accountOfArn, type ParsedCaller, parseCaller } from './caller.ts';
import { asArray, conditionsMatch, UnsupportedConditionError } from './policy-conditions.ts';
import type {
  Caller,
  ContextValue,
  KmsGrant,
  PolicyDocument,
  PolicyStatement,
  RequestContext,
} from './policy-types.ts';
import { matchesArnPattern, matchesWildcard } from './wildcard.ts';

export { UnsupportedConditionError };

/*
 * KMS key policy evaluation, as AWS documents it:
 * - https://docs.aws.amazon.com/kms/latest/developerguide/determining-access.html
 * - https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html
 * - https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html
 */

/** One request to evaluate: who does what on which resource, with which condition keys. */
export interface PolicyRequest {
  caller: Caller;
  /** `kms:Decrypt`, `kms:ReEncryptFrom`… (concrete action names, no wildcards). */
  action: string;
  /** The key ARN. */
  resource: string;
  /**
   * Condition keys of the request. `aws:PrincipalArn`, `aws:PrincipalAccount` and (for `kms:`
   * actions) `kms:CallerAccount` are derived from the caller when absent.
   */
  context?: RequestContext;
}

/** How a key policy statement's Principal matched the caller. */
export type PrincipalMatch = 'direct' | 'account';

/** A statement that applied to a request, by its Sid or its index in the policy. */
export interface MatchedStatement {
  sid: string;
  effect: 'Allow' | 'Deny';
  principalMatch: PrincipalMatch;
}

/** Which statements of one policy applied to a request. */
export interface PolicyEvaluation {
  explicitDeny: MatchedStatement[];
  /** Allows naming the caller itself (its ARN, its role, or `*`). */
  allowDirect: MatchedStatement[];
  /** Allows naming the caller's account (`111122223333` or `arn:aws:iam::111122223333:root`): IAM decides. */
  allowAccount: MatchedStatement[];
}

/**
 * The decision for one action on one key. `depends-on-iam` means the key policy delegates to the
 * caller's account (or the call is cross-account) and the caller's IAM policies were not available.
 */
export interface AccessDecision {
  action: string;
  decision: 'allow' | 'deny' | 'depends-on-iam';
  basis:
    | 'key-policy'
    | 'key-policy-and-iam'
    | 'grant'
    | 'explicit-deny-in-key-policy'
    | 'explicit-deny-in-iam'
    | 'not-allowed-by-key-policy'
    | 'not-allowed-by-iam'
    | 'iam-unknown';
  /** For a person: which statement decided, or what is missing. */
  reason: string;
}

export function statementsOf(policy: PolicyDocument): PolicyStatement[] {
  return Array.isArray(policy.Statement) ? policy.Statement : [policy.Statement];
}

/** Derived condition keys, added when the caller did not set them. */
function fullContext(request: PolicyRequest, caller: ParsedCaller): Map<string, ContextValue> {
  const context = new Map<string, ContextValue>();
  context.set('aws:principalarn', caller.principalArn);
  context.set('aws:principalaccount', caller.accountId);
  if (request.action.toLowerCase().startsWith('kms:')) context.set('kms:calleraccount', caller.accountId);
  for (const [key, value] of Object.entries(request.context ?? {})) context.set(key.toLowerCase(), value);
  return context;
}

/**
 * Does one Principal value name the caller? Account forms (`111122223333`, `arn:aws:iam::…:root`)
 * match every principal of that account: "delegate to IAM". A role ARN matches the role's sessions.
 * See https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_principal.html
 */
function principalValueMatches(value: string, caller: ParsedCaller): PrincipalMatch | undefined {
  if (value === '*') return 'direct';
  const accountId = accountOfArn(value);
  if (accountId === undefined || accountId !== caller.accountId) return undefined;
  if (/^\d{12}$/.test(value) || /^arn:[^:]+:iam::\d{12}:root$/.test(value)) {
    // The root user itself is fully allowed once its account is: IAM policies do not restrict root.
    return caller.kind === 'root' ? 'direct' : 'account';
  }
  if (value === caller.arn || value === caller.principalArn) return 'direct';
  const role = /^arn:[^:]+:iam::\d{12}:role\/(?:.*\/)?([^/]+)$/.exec(value);
  if (role && (caller.kind === 'assumed-role' || caller.kind === 'role') && role[1] === caller.roleName) {
    // A session ARN carries no role path; matching by account and role name is what AWS does
    // (it resolves the Principal to the role's unique id).
    return 'direct';
  }
  return undefined;
}

function principalMatches(statement: PolicyStatement, caller: ParsedCaller): PrincipalMatch | undefined {
  if (statement.NotPrincipal !== undefined) {
    // In NotPrincipal an account ARN excludes only the account principal (root), not everyone in it:
    // https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_notprincipal.html
    const listed = asArray(statement.NotPrincipal.AWS).some(
      (v) => principalValueMatches(v, caller) === 'direct',
    );
    return listed ? undefined : 'direct';
  }
  const principal = statement.Principal;
  if (principal === undefined) return undefined;
  if (principal === '*') return 'direct';
  let best: PrincipalMatch | undefined;
  for (const value of asArray(principal.AWS)) {
    const match = principalValueMatches(value, caller);
    if (match === 'direct') return 'direct';
    best ??= match;
  }
  return best;
}

function actionMatches(statement: PolicyStatement, action: string): boolean {
  if (statement.NotAction !== undefined) {
    return !asArray(statement.NotAction).some((p) => matchesWildcard(p, action, { ignoreCase: true }));
  }
  return asArray(statement.Action).some((p) => matchesWildcard(p, action, { ignoreCase: true }));
}

function resourceMatches(statement: PolicyStatement, resource: string): boolean {
  if (statement.NotResource !== undefined) {
    return !asArray(statement.NotResource).some((p) => matchesArnPattern(p, resource));
  }
  // In a key policy, Resource "*" means "this key": https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-overview.html
  // A trust policy has no Resource: it applies to the role that holds it.
  if (statement.Resource === undefined) return true;
  return asArray(statement.Resource).some((p) => matchesArnPattern(p, resource));
}

/** Does a statement apply to a request? Conditions it cannot evaluate make it apply only if it denies. */
function statementApplies(
  statement: PolicyStatement,
  action: string,
  resource: string,
  context: Map<string, ContextValue>,
) {
  if (!actionMatches(statement, action) || !resourceMatches(statement, resource)) return false;
  try {
    return conditionsMatch(statement, context);
  } catch (error) {
    if (error instanceof UnsupportedConditionError) return statement.Effect === 'Deny';
    throw error;
  }
}

function sidOf(statement: PolicyStatement, index: number): string {
  return statement.Sid && statement.Sid !== '' ? statement.Sid : `statement #${index + 1}`;
}

/** Which statements of a resource policy (a key policy) apply to a request, and how the principal matched. */
export function evaluateResourcePolicy(policy: PolicyDocument, request: PolicyRequest): PolicyEvaluation {
  const caller = parseCaller(request.caller);
  const context = fullContext(request, caller);
  const result: PolicyEvaluation = { explicitDeny: [], allowDirect: [], allowAccount: [] };
  statementsOf(policy).forEach((statement, index) => {
    const principalMatch = principalMatches(statement, caller);
    if (!principalMatch) return;
    if (!statementApplies(statement, request.action, request.resource, context)) return;
    const matched: MatchedStatement = {
      sid: sidOf(statement, index),
      effect: statement.Effect,
      principalMatch,
    };
    if (statement.Effect === 'Deny') result.explicitDeny.push(matched);
    else if (principalMatch === 'direct') result.allowDirect.push(matched);
    else result.allowAccount.push(matched);
  });
  return result;
}

/** Which statements of the caller's IAM identity policies apply (they have no Principal element). */
export function evaluateIdentityPolicies(
  policies: readonly PolicyDocument[],
  request: PolicyRequest,
): { explicitDeny: string[]; allow: string[] } {
  const caller = parseCaller(request.caller);
  const context = fullContext(request, caller);
  const result = { explicitDeny: [] as string[], allow: [] as string[] };
  for (const policy of policies) {
    statementsOf(policy).forEach((statement, index) => {
      if (!statementApplies(statement, request.action, request.resource, context)) return;
      (statement.Effect === 'Deny' ? result.explicitDeny : result.allow).push(sidOf(statement, index));
    });
  }
  return result;
}

/** Does a grant let the caller do the action? Grantee matched by ARN (a role grant covers its sessions). */
export function grantAllows(grant: KmsGrant, request: PolicyRequest): boolean {
  const caller = parseCaller(request.caller);
  const operation = request.action.replace(/^kms:/i, '');
  if (!grant.operations.some((op) => op.toLowerCase() === operation.toLowerCase())) return false;
  return principalValueMatches(grant.granteePrincipal, caller) === 'direct';
}

/** Inputs of {@link decideKeyAccess}. */
export interface KeyAccessInput {
  keyArn: string;
  keyPolicy: PolicyDocument;
  grants?: readonly KmsGrant[];
  caller: Caller;
  action: string;
  context?: RequestContext;
  /**
   * The caller's IAM identity policies (inline and attached), or undefined when they could not be
   * read: then a decision that rests on IAM is `depends-on-iam`. The root user needs none.
   */
  identityPolicies?: readonly PolicyDocument[];
}

/**
 * Decides whether a caller may perform one KMS action on a key, as KMS does:
 * 1. an explicit Deny in the key policy or in the caller's IAM policies wins;
 * 2. same account: a key policy Allow naming the caller (or `*`) suffices; an Allow naming the
 *    account root delegates to IAM, whose identity policies must then allow;
 * 3. another account: the key policy must allow the caller or its account, and the caller's IAM
 *    policies must allow too (https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-modifying-external-accounts.html);
 * 4. a grant for the caller allows its operations without IAM (https://docs.aws.amazon.com/kms/latest/developerguide/grants.html).
 */
export function decideKeyAccess(input: KeyAccessInput): AccessDecision {
  const { action } = input;
  const answer = (
    decision: AccessDecision['decision'],
    basis: AccessDecision['basis'],
    reason: string,
  ): AccessDecision => ({ action, decision, basis, reason });
  const request: PolicyRequest = {
    caller: input.caller,
    action,
    resource: input.keyArn,
    ...(input.context ? { context: input.context } : {}),
  };
  const caller = parseCaller(input.caller);
  const keyAccount = accountOfArn(input.keyArn);
  const key = evaluateResourcePolicy(input.keyPolicy, request);
  const deny = key.explicitDeny[0];
  if (deny) {
    return answer('deny', 'explicit-deny-in-key-policy', `denied by key policy statement "${deny.sid}"`);
  }
  const isRoot = caller.kind === 'root';
  const iam =
    input.identityPolicies && !isRoot ? evaluateIdentityPolicies(input.identityPolicies, request) : undefined;
  const iamDeny = iam?.explicitDeny[0];
  if (iamDeny) {
    return answer('deny', 'explicit-deny-in-iam', `denied by IAM policy statement "${iamDeny}"`);
  }
  const iamKnown = isRoot || input.identityPolicies !== undefined;
  const iamAllows = isRoot || (iam !== undefined && iam.allow.length > 0);
  const sameAccount = keyAccount === caller.accountId;

  const direct = key.allowDirect[0];
  if (direct && sameAccount) {
    return answer('allow', 'key-policy', `allowed by key policy statement "${direct.sid}"`);
  }
  const grant = input.grants?.find((g) => grantAllows(g, request));
  if (grant) {
    return answer('allow', 'grant', `allowed by grant ${grant.grantId ?? 'for the caller'}`);
  }
  const keyAllow = direct ?? key.allowAccount[0];
  if (!keyAllow) {
    return answer(
      'deny',
      'not-allowed-by-key-policy',
      sameAccount
        ? 'no key policy statement allows the caller or delegates to its account'
        : `no key policy statement allows account ${caller.accountId} or the caller`,
    );
  }
  const why = sameAccount
    ? `key policy statement "${keyAllow.sid}" delegates to the account's IAM policies`
    : `key policy statement "${keyAllow.sid}" allows the caller's account, and a cross-account call also needs the caller's IAM policies to allow it`;
  if (!iamKnown) return answer('depends-on-iam', 'iam-unknown', `${why}; they could not be read`);
  if (!iamAllows) return answer('deny', 'not-allowed-by-iam', `${why}, and none allows ${action}`);
  return answer('allow', 'key-policy-and-iam', `${why}, which allow it`);
}
