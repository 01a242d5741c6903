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
import {
  type AwsClients,
  type AwsCredentials,
  assumeRoleCredentials,
  createAwsClients,
} from '@ec2-restore/aws-clients';
import { parseKmsKeyReference, type RestoreRequest } from '@ec2-restore/contracts';
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
import { actionsOf } from './step-actions.ts';

/** Where and as whom the facts are gathered. */
export interface GatherContext {
  /**
   * The worker role's credentials: the pre-flight checks must run as the principal the steps run as.
   * @defaultValue the SDK's default chain (the process's own role)
   */
  sourceCredentials?: AwsCredentials;
  /** Alias of sourceCredentials. */
  credentials?: AwsCredentials;
  /** @defaultValue `process.env.AWS_ENDPOINT_URL` */
  endpoint?: string;
  /** What the restore point holds (from the backup repository). */
  restorePoint: RestorePointFacts;
  /**
   * STS session name when assuming the restore role.
   * @defaultValue "ec2-restore-preflight"
   */
  sessionName?: string;
}

function errorFact(error: unknown): AwsErrorFact {
  const e = error as { name?: string; Code?: string; message?: string };
  return { code: e.Code ?? e.name ?? 'Error', message: e.message ?? String(error) };
}

/** Runs a call; an AWS error becomes a value, so one refusal does not hide the other facts. */
async function attempt<T>(
  call: () => Promise<T>,
): Promise<{ ok: true; value: T } | { ok: false; error: AwsErrorFact }> {
  try {
    return { ok: true, value: await call() };
  } catch (error) {
    return { ok: false, error: errorFact(error) };
  }
}

/** The identity policies of a role (inline and attached); undefined when IAM refuses to tell. */
async function rolePolicies(clients: AwsClients, roleName: string): Promise<PolicyDocument[] | undefined> {
  const parse = (document: string | undefined): PolicyDocument =>
    JSON.parse(decodeURIComponent(document ?? '{}'));
  const result = await attempt(async () => {
    const policies: PolicyDocument[] = [];
    const inline = await clients.iam.send(new ListRolePoliciesCommand({ RoleName: roleName }));
    for (const name of inline.PolicyNames ?? []) {
      const policy = await clients.iam.send(
        new GetRolePolicyCommand({ RoleName: roleName, PolicyName: name }),
      );
      policies.push(parse(policy.PolicyDocument));
    }
    const attached = await clients.iam.send(new ListAttachedRolePoliciesCommand({ RoleName: roleName }));
    for (const { PolicyArn } of attached.AttachedPolicies ?? []) {
      const policy = await clients.iam.send(new GetPolicyCommand({ PolicyArn }));
      const version = await clients.iam.send(
        new GetPolicyVersionCommand({ PolicyArn, VersionId: policy.Policy?.DefaultVersionId }),
      );
      policies.push(parse(version.PolicyVersion?.Document));
    }
    return policies;
  });
  return result.ok ? result.value : undefined;
}

/**
 * Who the clients act as: GetCallerIdentity, the role ARN with its path (GetRole) and its identity
 * policies where IAM lets the role read them. Permission boundaries, SCPs and session policies are
 * not read (see README).
 */
async function principalFacts(
  clients: AwsClients,
): Promise<{ ok: true; principal: PrincipalFacts } | { ok: false; error: AwsErrorFact }> {
  const identity = await attempt(() => clients.sts.send(new GetCallerIdentityCommand({})));
  if (!identity.ok) return identity;
  const arn = identity.value.Arn ?? '';
  const caller = parseCaller({ arn });
  const principal: PrincipalFacts = {
    identity: { arn, accountId: identity.value.Account ?? caller.accountId },
  };
  if ((caller.kind === 'assumed-role' || caller.kind === 'role') && caller.roleName) {
    const role = await attempt(() => clients.iam.send(new GetRoleCommand({ RoleName: caller.roleName })));
    if (role.ok && role.value.Role?.Arn) principal.roleArn = role.value.Role.Arn;
    const policies = await rolePolicies(clients, caller.roleName);
    if (policies) principal.identityPolicies = policies;
  }
  return { ok: true, principal };
}

/** DescribeKey, GetKeyPolicy and ListGrants of one key, as the clients' principal sees it. */
export async function gatherKeyFacts(clients: AwsClients, keyId: string): Promise<KeyFacts> {
  const facts: KeyFacts = { requested: keyId };
  const described = await attempt(() => clients.kms.send(new DescribeKeyCommand({ KeyId: keyId })));
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
  const policy = await attempt(() =>
    clients.kms.send(new GetKeyPolicyCommand({ KeyId: arn, PolicyName: 'default' })),
  );
  if (policy.ok) facts.policy = JSON.parse(policy.value.Policy ?? '{"Statement":[]}') as PolicyDocument;
  else facts.policyError = policy.error;
  const grants = await attempt(() => clients.kms.send(new ListGrantsCommand({ KeyId: arn })));
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

async function gatherSourceDefaultKey(clients: AwsClients, region: string): Promise<EbsDefaultKeyFacts> {
  const facts: EbsDefaultKeyFacts = { region };
  const byDefault = await attempt(() => clients.ec2.send(new GetEbsEncryptionByDefaultCommand({})));
  if (byDefault.ok) facts.encryptionByDefault = byDefault.value.EbsEncryptionByDefault ?? false;
  const defaultKey = await attempt(() => clients.ec2.send(new GetEbsDefaultKmsKeyIdCommand({})));
  if (!defaultKey.ok) return { ...facts, error: defaultKey.error };
  // GetEbsDefaultKmsKeyId answers alias/aws/ebs or a key ARN: https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_GetEbsDefaultKmsKeyId.html
  facts.defaultKmsKeyId = defaultKey.value.KmsKeyId ?? 'alias/aws/ebs';
  facts.key = await gatherKeyFacts(clients, facts.defaultKmsKeyId);
  return facts;
}

async function gatherNetwork(
  clients: AwsClients,
  request: RestoreRequest,
): Promise<NetworkFacts | undefined> {
  const { subnetId, securityGroupIds, instanceId } = request.instance;
  if (instanceId) return undefined; // volumes go to the existing instance's zone
  const network: NetworkFacts = {};
  if (!subnetId) {
    const vpcs = await attempt(() =>
      clients.ec2.send(new DescribeVpcsCommand({ Filters: [{ Name: 'is-default', Values: ['true'] }] })),
    );
    const vpc = vpcs.ok ? vpcs.value.Vpcs?.[0] : undefined;
    network.defaultVpc = vpc
      ? { found: true, ...(vpc.VpcId ? { vpcId: vpc.VpcId } : {}) }
      : { found: false, ...(vpcs.ok ? {} : { error: vpcs.error }) };
  }
  if (subnetId) {
    const subnets = await attempt(() =>
      clients.ec2.send(new DescribeSubnetsCommand({ SubnetIds: [subnetId] })),
    );
    const subnet = subnets.ok ? subnets.value.Subnets?.[0] : undefined;
    network.subnet = subnet
      ? {
          subnetId,
          found: true,
          ...(subnet.VpcId ? { vpcId: subnet.VpcId } : {}),
          ...(subnet.AvailabilityZone ? { availabilityZone: subnet.AvailabilityZone } : {}),
        }
      : { subnetId, found: false, ...(subnets.ok ? {} : { error: subnets.error }) };
  }
  if (securityGroupIds?.length) {
    // Described one by one: a single unknown id fails the whole call (InvalidGroup.NotFound).
    const found: { groupId: string; vpcId?: string }[] = [];
    for (const groupId of securityGroupIds) {
      const groups = await attempt(() =>
        clients.ec2.send(new DescribeSecurityGroupsCommand({ GroupIds: [groupId] })),
      );
      const group = groups.ok ? groups.value.SecurityGroups?.[0] : undefined;
      if (group) found.push({ groupId, ...(group.VpcId ? { vpcId: group.VpcId } : {}) });
    }
    network.securityGroups = { requested: securityGroupIds, found };
  }
  return network;
}

async function gatherInstanceType(clients: AwsClients, instanceType: string): Promise<InstanceTypeFacts> {
  const types = await attempt(() =>
    clients.ec2.send(new DescribeInstanceTypesCommand({ InstanceTypes: [instanceType as _InstanceType] })),
  );
  const type = types.ok ? types.value.InstanceTypes?.[0] : undefined;
  if (!type) return { instanceType, found: false, ...(types.ok ? {} : { error: types.error }) };
  return { instanceType, found: true, architectures: type.ProcessorInfo?.SupportedArchitectures ?? [] };
}

async function gatherExistingInstance(
  clients: AwsClients,
  instanceId: string,
): Promise<ExistingInstanceFacts> {
  const described = await attempt(() =>
    clients.ec2.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] })),
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

/**
 * Tries every EC2 action each principal's steps will call with DryRun, as that principal: the
 * worker role with the worker's clients, the restore role with the assumed role's.
 */
async function probeStepActions(
  facts: PreflightFacts,
  worker: AwsClients,
  target: AwsClients | undefined,
  crossAccount: boolean,
): Promise<void> {
  const workerPrincipal = facts.worker.principal;
  if (!workerPrincipal) return;
  const request = facts.request;
  const shape = {
    mode: crossAccount ? ('cross-account' as const) : ('same-account' as const),
    dataPath: request.dataPath,
    kmsGrant: request.kmsGrant,
    hasRestoreRole: request.target.roleArn !== undefined,
  };
  const region = request.target.region;
  const restorePrincipal = facts.restoreRole?.principal;
  // Zone names are per account: each principal names one of its own.
  const probe = async (clients: AwsClients, actions: string[]) =>
    probeWithDryRun(clients.ec2, actions, await probeZone(clients.ec2, region));
  const [workerProbes, restoreProbes] = await Promise.all([
    probe(worker, actionsOf(shape, 'worker-role')),
    restorePrincipal && target && target !== worker
      ? probe(target, actionsOf(shape, 'restore-role'))
      : Promise.resolve(undefined),
  ]);
  workerPrincipal.dryRun = workerProbes;
  if (restorePrincipal && restoreProbes) restorePrincipal.dryRun = restoreProbes;
}

/**
 * Collects the facts of the pre-flight checks with the credentials each step uses: the worker role
 * (the given source credentials) for identity and the source default key, the restore role (STS
 * AssumeRole with the ExternalId) for the target account. Refusals are recorded, never thrown.
 */
export async function gatherFacts(request: RestoreRequest, context: GatherContext): Promise<PreflightFacts> {
  const region = request.target.region;
  const sourceCredentials = context.sourceCredentials ?? context.credentials;
  const endpoint = context.endpoint;
  const opened: AwsClients[] = [];
  const open = (credentials: AwsCredentials | undefined, inRegion: string = region) => {
    const clients = createAwsClients({
      region: inRegion,
      ...(credentials ? { credentials } : {}),
      ...(endpoint ? { endpoint } : {}),
      maxAttempts: 2,
    });
    opened.push(clients);
    return clients;
  };
  try {
    const worker = open(sourceCredentials);
    const workerPrincipal = await principalFacts(worker);
    const facts: PreflightFacts = {
      request,
      worker: workerPrincipal.ok
        ? { principal: workerPrincipal.principal }
        : { identityError: workerPrincipal.error },
      targetKey: { requested: request.target.kmsKeyId },
      restorePoint: context.restorePoint,
    };
    const crossAccount =
      workerPrincipal.ok && workerPrincipal.principal.identity.accountId !== request.target.accountId;

    let target: AwsClients | undefined = crossAccount ? undefined : worker;
    if (request.target.roleArn) {
      const credentials = assumeRoleCredentials({
        region,
        roleArn: request.target.roleArn,
        ...(request.target.externalId ? { externalId: request.target.externalId } : {}),
        sessionName: context.sessionName ?? 'ec2-restore-preflight',
        ...(sourceCredentials ? { sourceCredentials } : {}),
        ...(endpoint ? { endpoint } : {}),
      });
      const restore = open(credentials);
      const restorePrincipal = await principalFacts(restore);
      const role: RestoreRoleFacts = {
        roleArn: request.target.roleArn,
        ...(request.target.externalId ? { externalId: request.target.externalId } : {}),
      };
      if (restorePrincipal.ok) {
        role.principal = {
          ...restorePrincipal.principal,
          roleArn: restorePrincipal.principal.roleArn ?? request.target.roleArn,
        };
        target = restore;
      } else {
        role.assumeError = restorePrincipal.error;
      }
      facts.restoreRole = role;
    }

    if (target) {
      const keyRegionName = keyRegion(request);
      const keyClients = keyRegionName === region ? target : open(target.options.credentials, keyRegionName);
      facts.targetKey = await gatherKeyFacts(keyClients, request.target.kmsKeyId);
      const network = await gatherNetwork(target, request);
      if (network) facts.network = network;
      if (request.instance.instanceId) {
        facts.existingInstance = await gatherExistingInstance(target, request.instance.instanceId);
      } else {
        const type = request.instance.instanceType ?? context.restorePoint.instance.instanceType;
        facts.instanceType = await gatherInstanceType(target, type);
      }
    } else {
      facts.targetKey.describeError = {
        code: 'NotChecked',
        message: 'the target account could not be reached (see restore-role-assumable)',
      };
    }
    if (crossAccount) facts.sourceDefaultKey = await gatherSourceDefaultKey(worker, region);
    await probeStepActions(facts, worker, target, crossAccount);
    return facts;
  } finally {
    for (const clients of opened) clients.destroy();
  }
}
