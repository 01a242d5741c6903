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

/** Progress of the data written for one volume, as bytes. */
export type ProgressSink = (bytesDone: number, bytesTotal: number) => Promise<void> | void;
