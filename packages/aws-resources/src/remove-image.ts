import {
  DeregisterImageCommand,
  type EC2Client,
  type Filter,
  type Image,
  paginateDescribeImages,
} from '@aws-sdk/client-ec2';
import { ifStillThere } from './not-found.ts';
import { type RestoreOwner, restoreFilters } from './tagged-resources.ts';

/**
 * Images matching the filters that the caller's account owns, not deregistered: a restore's temporary
 * image (the `register-image` launch strategy) carries the restore's tags from RegisterImage.
 */
export async function findTaggedImages(ec2: EC2Client, owner: RestoreOwner | Filter[]): Promise<Image[]> {
  const Filters = Array.isArray(owner) ? owner : restoreFilters(owner);
  const images: Image[] = [];
  for await (const page of paginateDescribeImages({ client: ec2 }, { Owners: ['self'], Filters })) {
    images.push(...(page.Images ?? []).filter((i) => i.State !== 'deregistered'));
  }
  return images;
}

/**
 * Deregisters an image; true when this call did, false when it was already gone. Its snapshots stay
 * (DeregisterImage never deletes them, https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/deregister-ami.html):
 * the caller removes the snapshot the restore made for it, and a snapshot an image still names cannot
 * be deleted, so images go first.
 */
export function removeImage(ec2: EC2Client, imageId: string): Promise<boolean> {
  return ifStillThere(() => ec2.send(new DeregisterImageCommand({ ImageId: imageId })));
}
