/** What every writer is asked to do: restore one volume of a restore point into a target. */
export interface WriteVolumeRequest<Target> {
  restorePointId: string;
  /** The volume's device name in the restore point, e.g. /dev/xvda. */
  deviceName: string;
  target: Target;
  /** Called as blocks land, with the bytes written so far (zero blocks included). */
  onProgress?: (bytesDone: number) => void;
  /** Aborts the write: no new block starts, in-flight requests are cancelled. */
  signal?: AbortSignal;
}

/** One interface, two data paths (docs/architecture.md#the-two-flows): `ebs-direct` and `worker-volume`. */
export interface SnapshotWriter<Target, Result> {
  readonly kind: 'ebs-direct' | 'worker-volume';
  writeVolume(request: WriteVolumeRequest<Target>): Promise<Result>;
}
