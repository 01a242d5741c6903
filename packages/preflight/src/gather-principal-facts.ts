import {
  GetPolicyCommand,
  GetPolicyVersionCommand,
  GetRoleCommand,
  GetRolePolicyCommand,
  ListAttachedRolePoliciesCommand,
  ListRolePoliciesCommand,
} from '@aws-sdk/client-iam';
import { GetCallerIdentityCommand } from '@aws-sdk/client-sts';
import type { AwsClients } from '@ec2-restore/aws-clients';
import { parseCaller } from './caller.ts';
import type { AwsErrorFact, PrincipalFacts } from './facts.ts';
import { attempt, type Gathering, type Http, type Scope } from './gathering.ts';
import type { PolicyDocument } from './policy-types.ts';

/* Who the worker role and the restore role are (STS), and their IAM role and policies. */

/** The identity policies of a role (inline and attached); undefined when IAM refuses to tell. */
async function rolePolicies(
  clients: AwsClients,
  roleName: string,
  http: Http,
): Promise<PolicyDocument[] | undefined> {
  const parse = (document: string | undefined): PolicyDocument =>
    JSON.parse(decodeURIComponent(document ?? '{}'));
  const result = await attempt(async () => {
    const [inline, attached] = await Promise.all([
      clients.iam.send(new ListRolePoliciesCommand({ RoleName: roleName }), http),
      clients.iam.send(new ListAttachedRolePoliciesCommand({ RoleName: roleName }), http),
    ]);
    const inlineDocuments = (inline.PolicyNames ?? []).map(async (name) => {
      const policy = await clients.iam.send(
        new GetRolePolicyCommand({ RoleName: roleName, PolicyName: name }),
        http,
      );
      return parse(policy.PolicyDocument);
    });
    const attachedDocuments = (attached.AttachedPolicies ?? []).map(async ({ PolicyArn }) => {
      const policy = await clients.iam.send(new GetPolicyCommand({ PolicyArn }), http);
      const version = await clients.iam.send(
        new GetPolicyVersionCommand({ PolicyArn, VersionId: policy.Policy?.DefaultVersionId }),
        http,
      );
      return parse(version.PolicyVersion?.Document);
    });
    return Promise.all([...inlineDocuments, ...attachedDocuments]);
  });
  return result.ok ? result.value : undefined;
}

type Identity = { ok: true; principal: PrincipalFacts } | { ok: false; error: AwsErrorFact };

/** GetCallerIdentity: who the clients act as (for a restore role, this is where AssumeRole happens). */
export async function callerIdentity(g: Gathering, scope: Scope, clients: AwsClients): Promise<Identity> {
  return g.fact(
    `STS GetCallerIdentity (${scope.name})`,
    `identity|${scope.key}`,
    'changing',
    async (http) => {
      const identity = await attempt(() => clients.sts.send(new GetCallerIdentityCommand({}), http));
      if (!identity.ok) return identity;
      const arn = identity.value.Arn ?? '';
      return {
        ok: true,
        principal: { identity: { arn, accountId: identity.value.Account ?? parseCaller({ arn }).accountId } },
      };
    },
    (identity) => identity.ok,
  );
}

/**
 * The role ARN with its path (GetRole) and the role's identity policies where IAM lets the role read
 * them. Permission boundaries, SCPs and session policies are not read (see README).
 */
export async function roleDetails(
  g: Gathering,
  scope: Scope,
  clients: AwsClients,
  principal: PrincipalFacts,
): Promise<PrincipalFacts> {
  const caller = parseCaller({ arn: principal.identity.arn });
  if (!((caller.kind === 'assumed-role' || caller.kind === 'role') && caller.roleName)) return principal;
  const roleName = caller.roleName;
  const details = await g.fact(
    `IAM role ${roleName} and its policies (${scope.name})`,
    `role|${scope.key}|${roleName}`,
    'changing',
    async (http) => {
      const [role, policies] = await Promise.all([
        attempt(() => clients.iam.send(new GetRoleCommand({ RoleName: roleName }), http)),
        rolePolicies(clients, roleName, http),
      ]);
      return { roleArn: role.ok ? role.value.Role?.Arn : undefined, policies };
    },
    (d) => d.roleArn !== undefined && d.policies !== undefined,
  );
  return {
    ...principal,
    ...(details.roleArn ? { roleArn: details.roleArn } : {}),
    ...(details.policies ? { identityPolicies: details.policies } : {}),
  };
}
