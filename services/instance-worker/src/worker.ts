import { cleanupJobInputSchema, instanceJobInputSchema, JobName } from '@ec2-restore/contracts';
import { cleanupRestore, restoreInstance, type StepProcessor } from '@ec2-restore/pipeline';

/**
 * The instance queue's two jobs, each parsed with its contract: the instance step (on the snapshots
 * its children made) and the cleanup that follows every restore.
 */
export function instanceProcessors(): Record<
  typeof JobName.Instance | typeof JobName.Cleanup,
  StepProcessor
> {
  return {
    [JobName.Instance]: async (data, ctx) =>
      restoreInstance(instanceJobInputSchema.parse(data), await ctx.childSnapshotResults(), ctx),
    [JobName.Cleanup]: (data, ctx) => cleanupRestore(cleanupJobInputSchema.parse(data), ctx),
  };
}
