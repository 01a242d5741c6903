import type { PolicyStatementJson } from '@ec2-restore/contracts';

/** One statement of a key policy or an IAM identity policy, as JSON. */
export type PolicyStatement = PolicyStatementJson;

/** A policy document as AWS returns it (GetKeyPolicy, GetRolePolicy…), already parsed from JSON. */
export interface PolicyDocument {
  Version?: string;
  Id?: string;
  Statement: PolicyStatement | PolicyStatement[];
}

/** A request context value: single-valued keys are strings or booleans, multi-valued keys arrays. */
export type ContextValue = string | boolean | readonly string[];

/** Condition keys of a request (`kms:ViaService`, `aws:PrincipalArn`, …). Keys compare case-insensitively. */
export type RequestContext = Readonly<Record<string, ContextValue>>;

/** The principal that makes a request. */
export interface Caller {
  /**
   * The ARN STS GetCallerIdentity returns: `arn:aws:iam::A:root`, `arn:aws:iam::A:user/Name`,
   * `arn:aws:sts::A:assumed-role/RoleName/Session`, or a role ARN.
   */
  arn: string;
  /**
   * For an assumed role: the role's ARN with its path (`arn:aws:iam::A:role/path/Name`), when known.
   * Without it the role ARN is derived from the session ARN, without a path.
   */
  roleArn?: string;
}

/** A KMS grant on a key (ListGrants). Grants are evaluated by grantee and operations only. */
export interface KmsGrant {
  grantId?: string;
  /** The grantee principal ARN (role, user, account root, or a service principal). */
  granteePrincipal: string;
  /** KMS operation names, e.g. `Decrypt`, `CreateGrant`, `ReEncryptFrom`. */
  operations: readonly string[];
}
