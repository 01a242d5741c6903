import type { RestoreRequest } from '@ec2-restore/contracts';
import { addRestoreFlow, type RestoreFlowOptions } from '@ec2-restore/pipeline';
import type { Restore } from '@ec2-restore/restore-state';
import type { FlowProducer } from 'bullmq';
import type { PlannedRestore, RestoreLauncher } from './deps.ts';

/** Starts a stored restore by adding its BullMQ flow (the pipeline package builds the tree). */
export class FlowRestoreLauncher implements RestoreLauncher {
  constructor(
    private readonly flowProducer: FlowProducer,
    private readonly options: RestoreFlowOptions = {},
  ) {}

  async start(restore: Restore<RestoreRequest>, planned: PlannedRestore): Promise<string> {
    if (planned.restorePoint === null || planned.sourceAccountId === null) {
      throw new Error(`restore ${restore.id}: no restore point or worker account to build the flow from`);
    }
    const flow = await addRestoreFlow(
      this.flowProducer,
      { id: restore.id, mode: restore.mode, request: restore.request },
      { restorePoint: planned.restorePoint, sourceAccountId: planned.sourceAccountId },
      this.options,
    );
    return flow.job.id ?? '';
  }
}
