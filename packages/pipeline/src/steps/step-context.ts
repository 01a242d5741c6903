import type { VolumePhase } from '@ec2-restore/contracts';
import type { StepClients } from '../aws/step-clients.ts';

/** What every step function gets besides its input: no queue, no Redis, only ports. */
export interface StepContext {
  clients: StepClients;
  /**
   * Call between phases: throws `RestoreEndedError` when the restore was cancelled (or failed in
   * another job) meanwhile, so the step stops before creating more.
   */
  checkpoint(): Promise<void>;
}

/**
 * Progress of one volume, as bytes: written in the `write` phase (the default), read back and found
 * equal to the restore point in the `verify` phase (verified restores).
 */
export type ProgressSink = (
  bytesDone: number,
  bytesTotal: number,
  phase?: VolumePhase,
) => Promise<void> | void;
