import { JobName, shareJobInputSchema } from '@ec2-restore/contracts';
import { type StepProcessor, shareSnapshots } from '@ec2-restore/pipeline';

/** The share queue's one job: parse it with its contract, run the share step on its children's snapshots. */
export function shareProcessors(): Record<typeof JobName.Share, StepProcessor> {
  return {
    [JobName.Share]: async (data, ctx) =>
      shareSnapshots(shareJobInputSchema.parse(data), await ctx.childSnapshotResults(), ctx),
  };
}
