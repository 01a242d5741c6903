import {
  type _InstanceType,
  DescribeInstancesCommand,
  DescribeInstanceTypesCommand,
  DescribeSecurityGroupsCommand,
  DescribeSubnetsCommand,
  DescribeVpcsCommand,
} from '@aws-sdk/client-ec2';
import type { AwsClients } from '@ec2-restore/aws-clients';
import { parseKmsKeyReference, type RestoreRequest } from '@ec2-restore/contracts';
import type {
  ExistingInstanceFacts,
  InstanceTypeFacts,
  NetworkFacts,
  PreflightFacts,
  RestorePointFacts,
} from './facts.ts';
import { keyFacts } from './gather-key-facts.ts';
import { attempt, type Gathering, type Scope } from './gathering.ts';

/* The target account: its key, its network, and the instance type or the existing instance. */

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
      return {
        instanceType,
        found: true,
        architectures: type.ProcessorInfo?.SupportedArchitectures ?? [],
        ...(type.NetworkInfo?.EnaSupport ? { enaSupport: type.NetworkInfo.EnaSupport } : {}),
        ...(type.SupportedBootModes ? { bootModes: type.SupportedBootModes } : {}),
      };
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
export async function gatherTarget(
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
