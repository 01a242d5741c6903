import { type Check, selectVolumes } from '@ec2-restore/contracts';
import { fail, pass, warn } from './check-result.ts';
import type { PreflightFacts } from './facts.ts';

/** The target network, instance and the restore point's volumes (pure checks over gathered facts). */

/** `network.subnet` and `network.security-groups`: the target network exists. */
export function checkNetwork(facts: PreflightFacts): Check[] {
  const checks: Check[] = [];
  const { region, accountId } = facts.request.target;
  const subnet = facts.network?.subnet;
  const defaultVpc = facts.network?.defaultVpc;
  if (!subnet && defaultVpc) {
    checks.push(
      defaultVpc.found
        ? pass(
            'network.subnet',
            `No subnet given: the instance goes to the default VPC${defaultVpc.vpcId ? ` ${defaultVpc.vpcId}` : ''} of ${region}.`,
          )
        : fail(
            'network.subnet',
            `No subnet given, and account ${accountId} has no default VPC in ${region}${defaultVpc.error ? ` (${defaultVpc.error.code})` : ''}.`,
            {
              summary: `Give instance.subnetId (a subnet of account ${accountId} in ${region}), or create a default VPC.`,
              commands: [
                `aws ec2 create-default-vpc --region ${region}`,
                `aws ec2 describe-subnets --region ${region} --query 'Subnets[].[SubnetId,VpcId,AvailabilityZone]'`,
              ],
            },
          ),
    );
  }
  if (subnet) {
    checks.push(
      subnet.found
        ? pass(
            'network.subnet',
            `Subnet ${subnet.subnetId} exists in ${subnet.availabilityZone ?? region} (VPC ${subnet.vpcId ?? 'unknown'}).`,
          )
        : fail(
            'network.subnet',
            `Subnet ${subnet.subnetId} does not exist in account ${accountId}, region ${region}${subnet.error ? ` (${subnet.error.code})` : ''}.`,
            {
              summary: `Choose a subnet of account ${accountId} in ${region}.`,
              commands: [
                `aws ec2 describe-subnets --region ${region} --query 'Subnets[].[SubnetId,VpcId,AvailabilityZone]'`,
              ],
            },
          ),
    );
  }
  const groups = facts.network?.securityGroups;
  if (groups && groups.requested.length > 0) {
    const found = new Map(groups.found.map((g) => [g.groupId, g]));
    const missing = groups.requested.filter((id) => !found.has(id));
    const vpc = subnet?.vpcId;
    const otherVpc = vpc
      ? groups.found.filter((g) => g.vpcId !== undefined && g.vpcId !== vpc).map((g) => g.groupId)
      : [];
    if (missing.length > 0 || otherVpc.length > 0) {
      const parts = [
        missing.length > 0 ? `${missing.join(', ')} not found in account ${accountId}, region ${region}` : '',
        otherVpc.length > 0 ? `${otherVpc.join(', ')} not in the subnet's VPC ${vpc}` : '',
      ].filter(Boolean);
      checks.push(
        fail('network.security-groups', `Security groups: ${parts.join('; ')}.`, {
          summary: `Choose security groups of the VPC ${vpc ?? 'of the subnet'} in ${region}.`,
          commands: [
            `aws ec2 describe-security-groups --region ${region}${vpc ? ` --filters Name=vpc-id,Values=${vpc}` : ''} --query 'SecurityGroups[].[GroupId,GroupName]'`,
          ],
        }),
      );
    } else {
      checks.push(
        pass(
          'network.security-groups',
          `Security groups ${groups.requested.join(', ')} exist${vpc ? ` in VPC ${vpc}` : ''}.`,
        ),
      );
    }
  }
  return checks;
}

/** `instance.type`: the instance type exists in the region and runs the restore point's architecture. */
export function checkInstanceType(facts: PreflightFacts): Check | undefined {
  const type = facts.instanceType;
  if (!type || facts.request.instance.instanceId) return undefined;
  const region = facts.request.target.region;
  const architecture = facts.restorePoint.instance.architecture;
  if (!type.found) {
    return fail('instance.type', `Instance type ${type.instanceType} is not offered in ${region}.`, {
      summary: `Choose an instance type offered in ${region} for ${architecture}.`,
      commands: [
        `aws ec2 describe-instance-types --region ${region} --filters Name=processor-info.supported-architecture,Values=${architecture} --query 'InstanceTypes[].InstanceType'`,
      ],
    });
  }
  if (type.architectures && !type.architectures.includes(architecture)) {
    return fail(
      'instance.type',
      `Instance type ${type.instanceType} runs ${type.architectures.join(', ')}, but the restore point is ${architecture}.`,
      {
        summary: `Choose an instance type for ${architecture} (instance.instanceType), e.g. the restore point's ${facts.restorePoint.instance.instanceType}.`,
      },
    );
  }
  return pass(
    'instance.type',
    `Instance type ${type.instanceType} is offered in ${region} and runs ${architecture}.`,
  );
}

/** `instance.existing`: the instance of a volume-level restore exists and the device names are free. */
export function checkExistingInstance(facts: PreflightFacts): Check | undefined {
  const instanceId = facts.request.instance.instanceId;
  if (!instanceId) return undefined;
  const existing = facts.existingInstance;
  const { region, accountId } = facts.request.target;
  if (!existing?.found || existing.state === 'terminated' || existing.state === 'shutting-down') {
    return fail(
      'instance.existing',
      `Instance ${instanceId} does not exist (or is terminated) in account ${accountId}, region ${region}.`,
      {
        summary:
          'Name a running or stopped instance of the target account and region, or leave instance.instanceId out to create one.',
        commands: [`aws ec2 describe-instances --instance-ids ${instanceId} --region ${region}`],
      },
    );
  }
  const requested = facts.request.volumes ?? [];
  const taken = requested.filter((device) => existing.deviceNames?.includes(device));
  if (taken.length > 0) {
    return fail('instance.existing', `Instance ${instanceId} already has volumes at ${taken.join(', ')}.`, {
      summary: 'Detach those volumes first, or restore other device names.',
      commands: taken.map(
        (device) =>
          `aws ec2 describe-volumes --filters Name=attachment.instance-id,Values=${instanceId} Name=attachment.device,Values=${device} --region ${region}`,
      ),
    });
  }
  return pass(
    'instance.existing',
    `Instance ${instanceId} exists (${existing.state ?? 'state unknown'}) in ${existing.availabilityZone ?? region}; the restored volumes are created there.`,
  );
}

/** The devices a restore restores: the requested volumes, or all of the restore point. */
export function restoredVolumes(facts: Pick<PreflightFacts, 'request' | 'restorePoint'>) {
  return selectVolumes(facts.restorePoint.volumes, facts.request.volumes).selected;
}

/** `restore-point.volumes`: the requested device names are in the restore point; a full restore has its root volume. */
export function checkRestorePointVolumes(facts: PreflightFacts): Check {
  const available = facts.restorePoint.volumes.map((v) => v.deviceName);
  const missing = selectVolumes(facts.restorePoint.volumes, facts.request.volumes).unknown;
  if (missing.length > 0) {
    return fail(
      'restore-point.volumes',
      `The restore point has no volume ${missing.join(', ')}; it has ${available.join(', ') || 'none'}.`,
      {
        summary: `List only device names of the restore point in volumes: ${available.join(', ')}.`,
      },
    );
  }
  const root = facts.restorePoint.instance.rootDeviceName;
  if (!facts.request.volumes && !available.includes(root)) {
    return fail(
      'restore-point.volumes',
      `The restore point has no volume for its root device ${root}, so an instance cannot be restored from it.`,
      {
        summary: 'Restore its volumes with a volume-level restore (volumes and instance.instanceId) instead.',
      },
    );
  }
  return pass(
    'restore-point.volumes',
    `Restoring ${restoredVolumes(facts)
      .map((v) => v.deviceName)
      .join(', ')}.`,
  );
}

/** EBS limits per volume type: https://docs.aws.amazon.com/ebs/latest/userguide/ebs-volume-types.html */
const volumeTypeLimits: Record<
  string,
  { minGiB: number; maxGiB: number; iops?: [number, number]; throughput?: [number, number] }
> = {
  gp3: { minGiB: 1, maxGiB: 65536, iops: [3000, 80000], throughput: [125, 2000] },
  gp2: { minGiB: 1, maxGiB: 16384 },
  io1: { minGiB: 4, maxGiB: 16384, iops: [100, 64000] },
  io2: { minGiB: 4, maxGiB: 65536, iops: [100, 256000] },
  st1: { minGiB: 125, maxGiB: 16384 },
  sc1: { minGiB: 125, maxGiB: 16384 },
  standard: { minGiB: 1, maxGiB: 1024 },
};

/** `restore-point.volume-limits`: each volume's type, size, IOPS and throughput are within EBS limits. */
export function checkVolumeLimits(facts: PreflightFacts): Check {
  const problems: string[] = [];
  for (const volume of restoredVolumes(facts)) {
    const limits = volumeTypeLimits[volume.volumeType];
    if (!limits) {
      problems.push(
        `${volume.deviceName}: volume type ${volume.volumeType} is not one of ${Object.keys(volumeTypeLimits).join(', ')}`,
      );
      continue;
    }
    if (
      !Number.isInteger(volume.sizeGiB) ||
      volume.sizeGiB < limits.minGiB ||
      volume.sizeGiB > limits.maxGiB
    ) {
      problems.push(
        `${volume.deviceName}: ${volume.sizeGiB} GiB is outside ${limits.minGiB}-${limits.maxGiB} GiB for ${volume.volumeType}`,
      );
    }
    if (
      volume.iops !== undefined &&
      limits.iops &&
      (volume.iops < limits.iops[0] || volume.iops > limits.iops[1])
    ) {
      problems.push(
        `${volume.deviceName}: ${volume.iops} IOPS is outside ${limits.iops[0]}-${limits.iops[1]} for ${volume.volumeType}`,
      );
    }
    if (
      volume.throughput !== undefined &&
      limits.throughput &&
      (volume.throughput < limits.throughput[0] || volume.throughput > limits.throughput[1])
    ) {
      problems.push(
        `${volume.deviceName}: ${volume.throughput} MiB/s is outside ${limits.throughput[0]}-${limits.throughput[1]} for ${volume.volumeType}`,
      );
    }
  }
  if (problems.length > 0) {
    return fail('restore-point.volume-limits', `Volumes outside EBS limits: ${problems.join('; ')}.`, {
      summary: 'The restore point holds volumes EBS cannot create as recorded; check its manifest.',
      links: ['https://docs.aws.amazon.com/ebs/latest/userguide/ebs-volume-types.html'],
    });
  }
  return pass('restore-point.volume-limits', 'Every volume fits the EBS limits of its type.');
}

/** Without DescribeInstanceTypes data, the Nitro limit of 28 attachments (one is the network interface). */
const defaultMaxEbsVolumes = 27;

/** `restore-point.attachments`: the instance can take that many volumes. */
export function checkAttachments(facts: PreflightFacts): Check {
  const restoring = restoredVolumes(facts).length;
  const already = facts.request.instance.instanceId ? (facts.existingInstance?.deviceNames?.length ?? 0) : 0;
  const total = restoring + already;
  const max = facts.instanceType?.maxEbsVolumes ?? defaultMaxEbsVolumes;
  const known = facts.instanceType?.maxEbsVolumes !== undefined;
  if (total <= max)
    return pass(
      'restore-point.attachments',
      `${total} EBS volume(s) on the instance, within its limit of ${max}.`,
    );
  const message = `${total} EBS volumes would be attached (${restoring} restored${already ? `, ${already} already there` : ''}), more than the ${max} the instance ${known ? 'type supports' : 'likely supports'}.`;
  const remedy = {
    summary: 'Restore fewer volumes (volumes), or choose an instance type that supports more.',
    links: ['https://docs.aws.amazon.com/ec2/latest/instancetypes/ec2-nitro-instances.html'],
  };
  return known
    ? fail('restore-point.attachments', message, remedy)
    : warn('restore-point.attachments', message, remedy);
}
