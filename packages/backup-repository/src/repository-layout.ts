import { randomBytes } from 'node:crypto';

/*
 * Layout of a repository (folder or S3 prefix):
 *   blocks/<sha256[0..2]>/<sha256>              block data, content-addressed, shared by all restore points
 *   restore-points/<id>/<device>.blocks          block list of one volume (one line per block)
 *   restore-points/<id>/manifest.json            written last: a restore point exists once this exists
 */
export const RESTORE_POINTS = 'restore-points/';

export function blockKey(sha256: string): string {
  return `blocks/${sha256.slice(0, 2)}/${sha256}`;
}

export function manifestKey(id: string): string {
  return `${RESTORE_POINTS}${id}/manifest.json`;
}

export function blockListKey(id: string, deviceName: string): string {
  return `${RESTORE_POINTS}${id}/${deviceName.replace(/^\/dev\//, '')}.blocks`;
}

/** A new restore point id: sortable by time, unique, safe in job ids and S3 keys. */
export function newRestorePointId(now: Date = new Date()): string {
  const stamp = now
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
  return `rp-${stamp}-${randomBytes(4).toString('hex')}`;
}
