import { type Check, chooseLaunchStrategy } from '@ec2-restore/contracts';
import { fail, pass, warn } from './check-result.ts';
import type { PreflightFacts } from './facts.ts';

/**
 * The launch of the restored instance (docs/architecture.md#launch-strategies): which strategy the
 * restore point calls for, and whether the instance type can boot it (ENA, boot mode). Pure checks
 * over gathered facts; a volume-level restore launches nothing and has none of them.
 */

const ENA_PAGE = 'https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/enhanced-networking-ena.html';
const BOOT_PAGE = 'https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/ami-boot.html';

/** `instance.launch-strategy`: the strategy, why, and a request that asks for one that cannot keep the licence. */
export function checkLaunchStrategy(facts: PreflightFacts): Check | undefined {
  if (facts.request.volumes !== undefined) return undefined;
  const recorded = facts.restorePoint.instance;
  const choice = chooseLaunchStrategy(recorded, facts.request.instance.launchStrategy);
  if (choice.refused) {
    return fail('instance.launch-strategy', choice.refused, {
      summary: 'Leave instance.launchStrategy out (or set it to "auto" or "launch-and-swap").',
      links: ['https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/billing-info-fields.html'],
    });
  }
  if (!recorded.bootMode) {
    return warn(
      'instance.launch-strategy',
      `${choice.strategy}: ${choice.reason}. The restore point does not record the boot mode (made before it was recorded): the instance boots in the ${choice.strategy === 'register-image' ? "instance type's default mode" : "base image's mode"}, which may not be the original's.`,
      {
        summary:
          'If the original booted UEFI (or legacy BIOS on a type that defaults to UEFI), make the restore point again with --boot-mode or --from-instance.',
        links: [BOOT_PAGE],
      },
    );
  }
  return pass(
    'instance.launch-strategy',
    `${choice.strategy} (boot mode ${recorded.bootMode}): ${choice.reason}.`,
  );
}

/**
 * `instance.ena`: an instance type that requires ENA cannot launch an image without it (EC2 refuses
 * RunInstances: "Enhanced networking with the Elastic Network Adapter (ENA) is required for the
 * '<type>' instance type"), and the restore point's boot mode must be one the type supports.
 */
export function checkInstanceBoot(facts: PreflightFacts): Check | undefined {
  const type = facts.instanceType;
  if (!type?.found || facts.request.volumes !== undefined) return undefined;
  const recorded = facts.restorePoint.instance;
  const name = type.instanceType;
  if (type.enaSupport === 'required' && recorded.enaSupport === false) {
    return fail(
      'instance.ena',
      `Instance type ${name} requires ENA (enhanced networking), but the restore point's instance did not support it (EnaSupport false): EC2 would refuse the launch.`,
      {
        summary: `Choose an instance type that does not require ENA (instance.instanceType; DescribeInstanceTypes NetworkInfo.EnaSupport "supported" or "unsupported", e.g. the restore point's ${recorded.instanceType} if it is one), or install the ENA driver in the original and back it up again with ENA enabled.`,
        commands: [
          `aws ec2 describe-instance-types --region ${facts.request.target.region} --filters Name=network-info.ena-support,Values=supported,unsupported Name=processor-info.supported-architecture,Values=${recorded.architecture} --query 'InstanceTypes[].InstanceType'`,
        ],
        links: [ENA_PAGE],
      },
    );
  }
  const mode = recorded.bootMode === 'uefi-preferred' ? undefined : recorded.bootMode;
  if (mode && type.bootModes && type.bootModes.length > 0 && !type.bootModes.includes(mode)) {
    return fail(
      'instance.ena',
      `Instance type ${name} boots ${type.bootModes.join(' or ')}, but the restore point's instance booted ${mode}: it would not start.`,
      {
        summary: `Choose an instance type that supports ${mode} boot (instance.instanceType).`,
        commands: [
          `aws ec2 describe-instance-types --region ${facts.request.target.region} --filters Name=supported-boot-mode,Values=${mode} --query 'InstanceTypes[].InstanceType'`,
        ],
        links: [BOOT_PAGE],
      },
    );
  }
  if (recorded.enaSupport === undefined && type.enaSupport === 'required') {
    return warn(
      'instance.ena',
      `Instance type ${name} requires ENA and the restore point does not record whether its instance supported it: the image is registered with ENA enabled; an operating system without the ENA driver would start without network.`,
      {
        summary: 'Make the restore point again with --ena-support or --from-instance to record it.',
        links: [ENA_PAGE],
      },
    );
  }
  return pass(
    'instance.ena',
    `Instance type ${name} can boot the restore point (ENA ${type.enaSupport ?? 'unknown'}, boot mode ${mode ?? 'any'}).`,
  );
}
