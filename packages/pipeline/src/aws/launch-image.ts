import { DescribeImagesCommand, type EC2Client, type Image } from '@aws-sdk/client-ec2';
import { PermanentStepError } from '../errors/permanent-step-error.ts';

export interface LaunchImageWanted {
  architecture: string;
  /** `windows` or anything else (Linux). */
  platform?: string;
  /** The restore point's root device name: an image with the same one keeps device names as backed up. */
  rootDeviceName: string;
}

function score(image: Image, wanted: LaunchImageWanted): number {
  let points = 0;
  if (image.RootDeviceName === wanted.rootDeviceName) points += 4;
  if (/^(al2023-ami|amzn2?-ami-hvm)/.test(image.Name ?? '')) points += 1;
  return points;
}

/**
 * The image the instance is launched from. Its root volume is replaced by the restored one before
 * the instance first boots with it, so only architecture, platform and boot mode matter: an
 * Amazon-owned EBS-backed HVM image of the restore point's architecture, preferring one whose root
 * device name is the restore point's. Deterministic (same answer on a retry).
 */
export async function findLaunchImage(ec2: EC2Client, wanted: LaunchImageWanted): Promise<Image> {
  const { Images = [] } = await ec2.send(
    new DescribeImagesCommand({
      Owners: ['amazon'],
      Filters: [
        { Name: 'architecture', Values: [wanted.architecture] },
        { Name: 'root-device-type', Values: ['ebs'] },
        { Name: 'state', Values: ['available'] },
      ],
    }),
  );
  const isWindows = wanted.platform === 'windows';
  const candidates = Images.filter(
    (image) =>
      (String(image.Platform ?? '').toLowerCase() === 'windows') === isWindows &&
      image.VirtualizationType !== 'paravirtual',
  );
  candidates.sort(
    (a, b) =>
      score(b, wanted) - score(a, wanted) ||
      (b.CreationDate ?? '').localeCompare(a.CreationDate ?? '') ||
      (a.ImageId ?? '').localeCompare(b.ImageId ?? ''),
  );
  const image = candidates[0];
  if (!image?.ImageId) {
    throw new PermanentStepError(
      `no Amazon ${isWindows ? 'Windows' : 'Linux'} EBS-backed image for architecture ${wanted.architecture} in this region to launch the instance from`,
      { code: 'instance_launch_failed', category: 'aws' },
    );
  }
  return image;
}
