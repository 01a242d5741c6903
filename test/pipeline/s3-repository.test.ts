import { openBackupRepository } from '@ec2-restore/backup-repository';
import { describe, it } from 'vitest';
import { createBackup } from '../support/index.ts';
import { type GeneratedWorld, RECORDED_LINUX, restoreGeneratedCase } from './generated-world.ts';

/*
 * A restore from a backup repository in S3 (BACKUP_REPOSITORY=s3://bucket/prefix), run by worker
 * processes holding a session of the generated worker role and nothing else: the pre-flight passes
 * every check (repository.access among them), the snapshot worker reads the manifest, block lists
 * and blocks from the bucket, the restore succeeds and nothing temporary is left. The backup is
 * written into the world's bucket by the account itself (the backup CLI's credentials, not the
 * worker role's).
 */

/** A backup of two volumes in the world's S3 repository. */
function backupInS3(world: GeneratedWorld) {
  const { bucket, prefix } = world.s3Repository ?? { bucket: 'missing', prefix: '' };
  return createBackup(['/dev/xvda', '/dev/xvdb'], undefined, {
    instance: RECORDED_LINUX,
    repository: openBackupRepository(`s3://${bucket}/${prefix}`, { s3: world.source.aws.s3 }),
  });
}

describe('a restore from an S3 backup repository as principals holding only the generated policies', () => {
  it(
    'same account, ebs-direct: pre-flight passes, the restore succeeds, nothing is left',
    { timeout: 600_000 },
    () =>
      restoreGeneratedCase(
        { mode: 'same-account', dataPath: 'ebs-direct', kmsGrant: 'none', repository: 's3' },
        backupInS3,
      ),
  );
});
