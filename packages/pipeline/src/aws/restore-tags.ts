import type { ResourceType, Tag, TagSpecification } from '@aws-sdk/client-ec2';
import type { RestoreResourceTag } from '@ec2-restore/aws-resources';
import { RestoreTag } from '@ec2-restore/contracts';

// Finding by these tags lives with removing, in the AWS resource module (cleanup and the sweeper use it too).
export {
  findStepSnapshots,
  findTaggedInstances,
  findTaggedSnapshots,
  findTaggedVolumes,
  isStepSnapshot,
  type RestoreResourceTag,
  SOURCE_VOLUME_TAG,
  stepSnapshotDescription,
} from '@ec2-restore/aws-resources';

export function restoreTags(owner: RestoreResourceTag, extra: Record<string, string> = {}): Tag[] {
  const tags: Tag[] = Object.entries(extra).map(([Key, Value]) => ({ Key, Value }));
  tags.push(
    { Key: RestoreTag.RestoreId, Value: owner.restoreId },
    { Key: RestoreTag.Step, Value: owner.step },
  );
  if (owner.deviceName) tags.push({ Key: RestoreTag.Device, Value: owner.deviceName });
  return tags;
}

/** Tags applied by the create call itself, so a resource never exists untagged (no leak on a crash). */
export function tagSpecification(resourceType: ResourceType, tags: Tag[]): TagSpecification[] {
  return [{ ResourceType: resourceType, Tags: tags }];
}
