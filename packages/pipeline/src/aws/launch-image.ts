import { DescribeImagesCommand, type EC2Client, type Image } from '@aws-sdk/client-ec2';
import { paginateGetParametersByPath, type SSMClient } from '@aws-sdk/client-ssm';
import { type FlowRestorePointInstance, UNLICENSED_USAGE_OPERATION } from '@ec2-restore/contracts';
import { PermanentStepError } from '../errors/permanent-step-error.ts';

/**
 * AWS's public parameters naming the latest Amazon images
 * (https://docs.aws.amazon.com/systems-manager/latest/userguide/parameter-store-public-parameters-ami.html):
 * one path per platform; each parameter's value is an image id of the region.
 */
export const BASE_IMAGE_PATHS = {
  windows: '/aws/service/ami-windows-latest',
  linux: '/aws/service/ami-amazon-linux-latest',
} as const;

/** The usage operation of Windows without SQL Server (billing-info-fields.html). */
const WINDOWS_USAGE_OPERATION = 'RunInstances:0002';

export type BaseImageWanted = Pick<
  FlowRestorePointInstance,
  'architecture' | 'platform' | 'bootMode' | 'billing'
>;

/** The billing the base image must have: the recorded one, else the platform's unlicensed one. */
export function wantedUsageOperation(wanted: BaseImageWanted): string {
  return (
    wanted.billing?.usageOperation ??
    (wanted.platform === 'windows' ? WINDOWS_USAGE_OPERATION : UNLICENSED_USAGE_OPERATION)
  );
}

/**
 * A base image boots the way the restore point did: the same mode, or none recorded. An image that is
 * `uefi-preferred` boots UEFI where the instance type can, so it fits a UEFI restore point, never a
 * legacy BIOS one (https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/ami-boot.html).
 */
function bootFits(image: Image, wanted: BaseImageWanted): boolean {
  if (!wanted.bootMode) return true;
  const mode = image.BootMode ?? 'legacy-bios';
  if (wanted.bootMode === 'legacy-bios') return mode === 'legacy-bios';
  return mode === 'uefi' || mode === 'uefi-preferred';
}

/** Prefer the exact boot mode, then a full English base edition over Core/Nano/minimal ones. */
function preference(name: string, image: Image, wanted: BaseImageWanted): number {
  let points = 0;
  if (wanted.bootMode && image.BootMode === wanted.bootMode) points += 4;
  if (/Full-Base$|Full-SQL/.test(name) || /^al2023-ami-kernel-default/.test(name.split('/').at(-1) ?? ''))
    points += 2;
  if (!/minimal|Core|Nano|Containers|EKS|ECS/i.test(name)) points += 1;
  return points;
}

async function imagesById(ec2: EC2Client, ids: string[]): Promise<Map<string, Image>> {
  const found = new Map<string, Image>();
  for (let at = 0; at < ids.length; at += 100) {
    const { Images = [] } = await ec2.send(new DescribeImagesCommand({ ImageIds: ids.slice(at, at + 100) }));
    for (const image of Images) if (image.ImageId) found.set(image.ImageId, image);
  }
  return found;
}

/**
 * The Amazon base image `launch-and-swap` starts from: among the images AWS's public parameters name
 * for the platform, one of the restore point's architecture, boot mode and billing (UsageOperation:
 * Windows is never launched from a SQL Server edition unless the original was one). Deterministic for
 * a given set of parameters: the best match, then the parameter name.
 */
export async function findBaseImage(ssm: SSMClient, ec2: EC2Client, wanted: BaseImageWanted): Promise<Image> {
  const path = BASE_IMAGE_PATHS[wanted.platform === 'windows' ? 'windows' : 'linux'];
  const parameters: Array<{ name: string; imageId: string }> = [];
  for await (const page of paginateGetParametersByPath({ client: ssm }, { Path: path, Recursive: true })) {
    for (const p of page.Parameters ?? []) {
      if (p.Name && p.Value?.startsWith('ami-')) parameters.push({ name: p.Name, imageId: p.Value });
    }
  }
  const images = await imagesById(ec2, [...new Set(parameters.map((p) => p.imageId))]);
  const usageOperation = wantedUsageOperation(wanted);
  const candidates = parameters.flatMap(({ name, imageId }) => {
    const image = images.get(imageId);
    const fits =
      image !== undefined &&
      image.State === 'available' &&
      image.Architecture === wanted.architecture &&
      image.VirtualizationType !== 'paravirtual' &&
      (image.UsageOperation ?? UNLICENSED_USAGE_OPERATION) === usageOperation &&
      bootFits(image, wanted);
    return fits ? [{ name, image, points: preference(name, image, wanted) }] : [];
  });
  candidates.sort((a, b) => b.points - a.points || a.name.localeCompare(b.name));
  const best = candidates[0];
  if (!best) {
    throw new PermanentStepError(
      `no Amazon base image under ${path} (AWS's public SSM parameters) is ${wanted.architecture}, boots ${wanted.bootMode ?? 'in any mode'} and bills as ${usageOperation}${wanted.billing?.platformDetails ? ` (${wanted.billing.platformDetails})` : ''}: launch-and-swap cannot keep the restore point's boot mode and licence in this region. For a platform without an Amazon base image (RHEL, SUSE, Marketplace), restore the volumes only (request volumes) and attach them to an instance launched from the vendor's image.`,
      { code: 'instance_launch_failed', category: 'aws' },
    );
  }
  return best.image;
}
