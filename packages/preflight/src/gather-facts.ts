import {
  type _InstanceType,
  DescribeInstancesCommand,
  DescribeInstanceTypesCommand,
  DescribeSecurityGroupsCommand,
  DescribeSubnetsCommand,
  DescribeVpcsCommand,
  GetEbsDefaultKmsKeyIdCommand,
  GetEbsEncryptionByDefaultCommand,
} from '@aws-sdk/client-ec2';
import {
  GetPolicyCommand,
  GetPolicyVersionCommand,
  GetRoleCommand,
  GetRolePolicyCommand,
  ListAttachedRolePoliciesCommand,
  ListRolePoliciesCommand,
} from '@aws-sdk/client-iam';
import { DescribeKeyCommand, GetKeyPolicyCommand, ListGrantsCommand } from '@aws-sdk/client-kms';
import { GetCallerIdentityCommand } from '@aws-sdk/client-sts';
import type { AwsClients } from '@ec2-restore/aws-clients';
import { parseKmsKeyReference, type RestoreRequest, transferKeyAliasFor } from '@ec2-restore/contracts';
import { parseCaller } from './caller.ts';
import type {
  AwsErrorFact,
  EbsDefaultKeyFacts,
  ExistingInstanceFacts,
  InstanceTypeFacts,
  KeyFacts,
  NetworkFacts,
  PreflightFacts,
  PrincipalFacts,
  RestorePointFacts,
  RestoreRoleFacts,
} from './facts.ts';
import { probeWithDryRun, probeZone } from './gather-permissions.ts';
import type { KmsGrant, PolicyDocument } from './policy-types.ts';
import { type StepPrincipal, stepActions } from './step-actions.ts';

/*
 * The AWS reads behind the pre-flight checks. Independent reads run at the same time (a plan costs
 * a few round trips, not one per call); each fact goes through `g.fact`, which caches what rarely
 * changes for a short while and names what is still outstanding when the plan's deadline passes.
 */

/** Options of each AWS call: the signal that aborts it at the plan's deadline. */
export type Http = { abortSignal: AbortSignal };

/**
 * One plan's view of its session (preflight-session.ts): the clients of each principal, and `fact`,
 * through which every read goes.
 */
export interface Gathering {
  /** The worker role's clients in a region. */
  workerClients(region: string): AwsClients;
  /** The restore role's clients in a region (STS AssumeRole with the ExternalId when given). */
  restoreRoleClients(region: string, roleArn: string, externalId?: string): AwsClients;
  /**
   * Runs `load` (its calls abort at the deadline), naming it `label` while it is outstanding. With a
   * `cacheKey`, plans share the answer for a short while (`stable`: longer) when `keep` accepts it.
   */
  fact<T>(
    label: string,
    cacheKey: string | undefined,
    kind: 'changing' | 'stable',
    load: (http: Http) => Promise<T>,
    keep?: (value: T) => boolean,
  ): Promise<T>;
}

function errorFact(error: unknown): AwsErrorFact {
  const e = error as { name?: string; Code?: string; message?: string };
  return { code: e.Code ?? e.name ?? 'Error', message: e.message ?? String(error) };
}

/**
 * Errors that end the whole plan instead of becoming a fact: the deadline (the call was aborted) and
 * the EC2 call budget refusing to wait that long (too many calls queued for the account).
 */
function endsThePlan(error: unknown): boolean {
  const name = (error as { name?: string } | null)?.name;
  return name === 'AbortError' || name === 'TimeoutError' || name === 'Ec2CallBudgetTimeoutError';
}

/** Runs a call; an AWS error becomes a value, so one refusal does not hide the other facts. */
async function attempt<T>(
  call: () => Promise<T>,
): Promise<{ ok: true; value: T } | { ok: false; error: AwsErrorFact }> {
  try {
    return { ok: true, value: await call() };
  } catch (error) {
    if (endsThePlan(error)) throw error;
    return { ok: false, error: errorFact(error) };
  }
}

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

/** Whose facts: `key` tells cached facts apart, `name` is shown in messages. */
interface Scope {
  key: string;
  name: string;
}

type Identity = { ok: true; principal: PrincipalFacts } | { ok: false; error: AwsErrorFact };

/** GetCallerIdentity: who the clients act as (for a restore role, this is where AssumeRole happens). */
async function callerIdentity(g: Gathering, scope: Scope, clients: AwsClients): Promise<Identity> {
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
async function roleDetails(
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

/** DescribeKey, then GetKeyPolicy and ListGrants of one key, as the clients' principal sees it. */
async function keyFacts(g: Gathering, scope: Scope, clients: AwsClients, keyId: string): Promise<KeyFacts> {
  return g.fact(
    `KMS key ${keyId} (${scope.name})`,
    `key|${scope.key}|${keyId}`,
    'changing',
    (http) => gatherKeyFacts(clients, keyId, http),
    // Only a key that is fully readable and enabled is kept: a person fixing it sees the fix at once.
    (facts) => facts.metadata?.keyState === 'Enabled' && facts.policy !== undefined,
  );
}

/** DescribeKey, GetKeyPolicy and ListGrants of one key, as the clients' principal sees it. */
export async function gatherKeyFacts(
  clients: AwsClients,
  keyId: string,
  http: Http = { abortSignal: AbortSignal.timeout(10_000) },
): Promise<KeyFacts> {
  const facts: KeyFacts = { requested: keyId };
  const described = await attempt(() => clients.kms.send(new DescribeKeyCommand({ KeyId: keyId }), http));
  if (!described.ok) return { ...facts, describeError: described.error };
  const m = described.value.KeyMetadata;
  const arn = m?.Arn ?? keyId;
  facts.metadata = {
    arn,
    keyId: m?.KeyId ?? '',
    accountId: m?.AWSAccountId ?? arn.split(':')[4] ?? '',
    region: arn.split(':')[3] ?? '',
    keyState: m?.KeyState ?? 'Unavailable',
    keyManager: m?.KeyManager === 'AWS' ? 'AWS' : 'CUSTOMER',
    keySpec: m?.KeySpec ?? 'SYMMETRIC_DEFAULT',
    keyUsage: m?.KeyUsage ?? 'ENCRYPT_DECRYPT',
    multiRegion: m?.MultiRegion ?? false,
    ...(m?.MultiRegionConfiguration?.MultiRegionKeyType
      ? { multiRegionKeyType: m.MultiRegionConfiguration.MultiRegionKeyType }
      : {}),
    ...(m?.DeletionDate ? { deletionDate: m.DeletionDate.toISOString() } : {}),
  };
  const [policy, grants] = await Promise.all([
    attempt(() => clients.kms.send(new GetKeyPolicyCommand({ KeyId: arn, PolicyName: 'default' }), http)),
    attempt(() => clients.kms.send(new ListGrantsCommand({ KeyId: arn }), http)),
  ]);
  if (policy.ok) facts.policy = JSON.parse(policy.value.Policy ?? '{"Statement":[]}') as PolicyDocument;
  else facts.policyError = policy.error;
  if (grants.ok) {
    facts.grants = (grants.value.Grants ?? []).map(
      (g): KmsGrant => ({
        ...(g.GrantId ? { grantId: g.GrantId } : {}),
        granteePrincipal: g.GranteePrincipal ?? '',
        operations: g.Operations ?? [],
      }),
    );
  }
  return facts;
}

async function gatherSourceDefaultKey(
  g: Gathering,
  scope: Scope,
  clients: AwsClients,
  region: string,
): Promise<EbsDefaultKeyFacts> {
  const settings = await g.fact(
    `EC2 EBS encryption defaults (${scope.name})`,
    `ebs-defaults|${scope.key}`,
    'changing',
    async (http) => {
      const [byDefault, defaultKey] = await Promise.all([
        attempt(() => clients.ec2.send(new GetEbsEncryptionByDefaultCommand({}), http)),
        attempt(() => clients.ec2.send(new GetEbsDefaultKmsKeyIdCommand({}), http)),
      ]);
      return { byDefault, defaultKey };
    },
    (s) => s.byDefault.ok && s.defaultKey.ok,
  );
  const facts: EbsDefaultKeyFacts = { region };
  if (settings.byDefault.ok)
    facts.encryptionByDefault = settings.byDefault.value.EbsEncryptionByDefault ?? false;
  if (!settings.defaultKey.ok) return { ...facts, error: settings.defaultKey.error };
  // GetEbsDefaultKmsKeyId answers alias/aws/ebs or a key ARN: https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_GetEbsDefaultKmsKeyId.html
  facts.defaultKmsKeyId = settings.defaultKey.value.KmsKeyId ?? 'alias/aws/ebs';
  facts.key = await keyFacts(g, scope, clients, facts.defaultKmsKeyId);
  return facts;
}

async function gatherNetwork(
  g: Gathering,
  scope: Scope,
  clients: AwsClients,
  request: RestoreRequest,
): Promise<NetworkFacts | undefined> {
  const { subnetId, securityGroupIds, instanceId } = request.instance;
  if (instanceId) return undefined; // volumes go to the existing instance's zone
  const defaultVpc = async (): Promise<NetworkFacts['defaultVpc']> =>
    g.fact(
      `EC2 default VPC (${scope.name})`,
      `default-vpc|${scope.key}`,
      'changing',
      async (http) => {
        const vpcs = await attempt(() =>
          clients.ec2.send(
            new DescribeVpcsCommand({ Filters: [{ Name: 'is-default', Values: ['true'] }] }),
            http,
          ),
        );
        const vpc = vpcs.ok ? vpcs.value.Vpcs?.[0] : undefined;
        return vpc
          ? { found: true, ...(vpc.VpcId ? { vpcId: vpc.VpcId } : {}) }
          : { found: false, ...(vpcs.ok ? {} : { error: vpcs.error }) };
      },
      (found) => found.found,
    );
  const subnet = async (id: string): Promise<NetworkFacts['subnet']> =>
    g.fact(
      `EC2 subnet ${id} (${scope.name})`,
      `subnet|${scope.key}|${id}`,
      'changing',
      async (http) => {
        const subnets = await attempt(() =>
          clients.ec2.send(new DescribeSubnetsCommand({ SubnetIds: [id] }), http),
        );
        const found = subnets.ok ? subnets.value.Subnets?.[0] : undefined;
        return found
          ? {
              subnetId: id,
              found: true,
              ...(found.VpcId ? { vpcId: found.VpcId } : {}),
              ...(found.AvailabilityZone ? { availabilityZone: found.AvailabilityZone } : {}),
            }
          : { subnetId: id, found: false, ...(subnets.ok ? {} : { error: subnets.error }) };
      },
      (found) => found.found,
    );
  // Described one by one (and at once): a single unknown id fails a joint call (InvalidGroup.NotFound).
  const group = async (groupId: string) =>
    g.fact(
      `EC2 security group ${groupId} (${scope.name})`,
      `security-group|${scope.key}|${groupId}`,
      'changing',
      async (http) => {
        const groups = await attempt(() =>
          clients.ec2.send(new DescribeSecurityGroupsCommand({ GroupIds: [groupId] }), http),
        );
        const found = groups.ok ? groups.value.SecurityGroups?.[0] : undefined;
        return found ? { groupId, ...(found.VpcId ? { vpcId: found.VpcId } : {}) } : undefined;
      },
      (found) => found !== undefined,
    );
  const [vpc, foundSubnet, groups] = await Promise.all([
    subnetId ? undefined : defaultVpc(),
    subnetId ? subnet(subnetId) : undefined,
    securityGroupIds?.length ? Promise.all(securityGroupIds.map(group)) : undefined,
  ]);
  const network: NetworkFacts = {};
  if (vpc) network.defaultVpc = vpc;
  if (foundSubnet) network.subnet = foundSubnet;
  if (securityGroupIds?.length && groups) {
    network.securityGroups = {
      requested: securityGroupIds,
      found: groups.filter((found) => found !== undefined),
    };
  }
  return network;
}

async function gatherInstanceType(
  g: Gathering,
  scope: Scope,
  clients: AwsClients,
  instanceType: string,
): Promise<InstanceTypeFacts> {
  // What an instance type is does not change: kept longer than the other facts.
  return g.fact(
    `EC2 instance type ${instanceType} (${scope.name})`,
    `instance-type|${scope.key}|${instanceType}`,
    'stable',
    async (http) => {
      const types = await attempt(() =>
        clients.ec2.send(
          new DescribeInstanceTypesCommand({ InstanceTypes: [instanceType as _InstanceType] }),
          http,
        ),
      );
      const type = types.ok ? types.value.InstanceTypes?.[0] : undefined;
      if (!type) return { instanceType, found: false, ...(types.ok ? {} : { error: types.error }) };
      return { instanceType, found: true, architectures: type.ProcessorInfo?.SupportedArchitectures ?? [] };
    },
    (facts) => facts.found,
  );
}

async function gatherExistingInstance(
  g: Gathering,
  scope: Scope,
  clients: AwsClients,
  instanceId: string,
): Promise<ExistingInstanceFacts> {
  // Never cached: the instance's state and devices are what the restore acts on next.
  return g.fact(`EC2 instance ${instanceId} (${scope.name})`, undefined, 'changing', async (http) => {
    const described = await attempt(() =>
      clients.ec2.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }), http),
    );
    const instance = described.ok ? described.value.Reservations?.[0]?.Instances?.[0] : undefined;
    if (!instance) return { instanceId, found: false, ...(described.ok ? {} : { error: described.error }) };
    return {
      instanceId,
      found: true,
      ...(instance.State?.Name ? { state: instance.State.Name } : {}),
      ...(instance.Placement?.AvailabilityZone
        ? { availabilityZone: instance.Placement.AvailabilityZone }
        : {}),
      deviceNames: (instance.BlockDeviceMappings ?? []).flatMap((m) => (m.DeviceName ? [m.DeviceName] : [])),
    };
  });
}

/**
 * The region to describe the target key in: the request's region, or the region of a key ARN that
 * names another one (so target-key.region can say so, instead of "not found").
 */
function keyRegion(request: RestoreRequest): string {
  const parsed = parseKmsKeyReference(request.target.kmsKeyId);
  if (parsed.ok && (parsed.key.kind === 'key-arn' || parsed.key.kind === 'alias-arn'))
    return parsed.key.arn.region;
  return request.target.region;
}

/** The facts of the target account: its key, network, and instance type or existing instance. */
async function gatherTarget(
  g: Gathering,
  request: RestoreRequest,
  restorePoint: RestorePointFacts,
  target: { scope: Scope; clients: AwsClients; inRegion: (region: string) => AwsClients },
): Promise<Pick<PreflightFacts, 'targetKey' | 'network' | 'instanceType' | 'existingInstance'>> {
  const region = request.target.region;
  const keyRegionName = keyRegion(request);
  const key =
    keyRegionName === region
      ? target
      : {
          scope: {
            key: `${target.scope.key}@${keyRegionName}`,
            name: `${target.scope.name} in ${keyRegionName}`,
          },
          clients: target.inRegion(keyRegionName),
        };
  const [targetKey, network, machine] = await Promise.all([
    keyFacts(g, key.scope, key.clients, request.target.kmsKeyId),
    gatherNetwork(g, target.scope, target.clients, request),
    request.instance.instanceId
      ? gatherExistingInstance(g, target.scope, target.clients, request.instance.instanceId)
      : gatherInstanceType(
          g,
          target.scope,
          target.clients,
          request.instance.instanceType ?? restorePoint.instance.instanceType,
        ),
  ]);
  return {
    targetKey,
    ...(network ? { network } : {}),
    ...(request.instance.instanceId
      ? { existingInstance: machine as ExistingInstanceFacts }
      : { instanceType: machine as InstanceTypeFacts }),
  };
}

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
