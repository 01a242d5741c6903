/** Base class of every error the repository raises; `code` is stable for callers and the API. */
export class BackupRepositoryError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

export class RestorePointNotFoundError extends BackupRepositoryError {
  readonly restorePointId: string;
  constructor(restorePointId: string, location: string) {
    super(
      'restore_point_not_found',
      `Restore point '${restorePointId}' does not exist in the backup repository ${location}. ` +
        'List the restore points with `pnpm backup list` and use one of their ids.',
    );
    this.restorePointId = restorePointId;
  }
}

export class ManifestInvalidError extends BackupRepositoryError {
  constructor(restorePointId: string, details: string) {
    super('manifest_invalid', `The manifest of restore point '${restorePointId}' is invalid: ${details}`);
  }
}

export interface BlockLocation {
  restorePointId: string;
  deviceName: string;
  blockIndex: number;
  expectedSha256: string;
}

/**
 * A block whose data is missing or does not hash to what the manifest says. Permanent: retrying the read
 * cannot help; the restore point must be repaired or another one chosen.
 */
export class BlockIntegrityError extends BackupRepositoryError {
  readonly restorePointId: string;
  readonly deviceName: string;
  readonly blockIndex: number;
  readonly expectedSha256: string;
  readonly actualSha256: string | undefined;

  constructor(location: BlockLocation & { actualSha256?: string; missing?: boolean }) {
    const what = location.missing
      ? 'is missing from the repository'
      : `is corrupt: its data hashes to ${location.actualSha256}`;
    super(
      location.missing ? 'block_missing' : 'block_corrupt',
      `Restore point '${location.restorePointId}', volume ${location.deviceName}, block ${location.blockIndex} ` +
        `(expected SHA-256 ${location.expectedSha256}) ${what}. ` +
        'Run `pnpm backup verify` on the restore point and restore from an intact one.',
    );
    this.restorePointId = location.restorePointId;
    this.deviceName = location.deviceName;
    this.blockIndex = location.blockIndex;
    this.expectedSha256 = location.expectedSha256;
    this.actualSha256 = location.actualSha256;
  }
}

export class BlockListCorruptError extends BackupRepositoryError {
  constructor(restorePointId: string, deviceName: string, reason: string) {
    super(
      'block_list_corrupt',
      `Restore point '${restorePointId}', volume ${deviceName}: the block list is corrupt (${reason}). ` +
        'Restore from another restore point.',
    );
  }
}

export class RepositoryLocationError extends BackupRepositoryError {
  constructor(message: string) {
    super('repository_location_invalid', message);
  }
}
