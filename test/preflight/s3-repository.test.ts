import { PreflightPlanner } from '@ec2-restore/api';
import {
  type BackupRepository,
  BLOCK_SIZE,
  type BlockRef,
  openBackupRepository,
} from '@ec2-restore/backup-repository';
import type { GeneratedPolicies, PolicyStatement } from '@ec2-restore/preflight';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type GeneratedWorld, generatedWorld, RECORDED_LINUX } from '../pipeline/generated-world.ts';
import { type Backup, createBackup, REGION, removeBackup, startApi } from '../support/index.ts';

/*
 * The API's plan of a restore from a backup repository in S3, as the API runs it (PreflightPlanner,
 * the repository opened with the worker role's credentials): the worker role's S3 permissions are
 * checked (repository.access), and the emulator enforces them as AWS does (403 AccessDenied), so a
 * role the check passes really reads the repository and one it fails really cannot.
 */

let world: GeneratedWorld;
let backup: Backup;
/** The repository and the planner as the API holds them, with the worker role's credentials. */
let repository: BackupRepository;
let planner: PreflightPlanner;
let location: string;

beforeAll(async () => {
  world = await generatedWorld({
    mode: 'same-account',
    dataPath: 'ebs-direct',
    kmsGrant: 'none',
    repository: 's3',
  });
  location = `s3://${world.s3Repository?.bucket}/${world.s3Repository?.prefix}`;
  // Written by the account itself (the backup CLI's credentials), read by the worker role.
  backup = await createBackup(['/dev/xvda'], undefined, {
    instance: RECORDED_LINUX,
    repository: openBackupRepository(location, { s3: world.source.aws.s3 }),
  });
  repository = openBackupRepository(location, { region: REGION, credentials: world.workerCredentials() });
  repository.catalogueMaxAgeMs = 0;
  planner = new PreflightPlanner({
    repository,
    region: REGION,
    credentials: world.workerCredentials(),
    cacheTtlMs: 0,
    // The checks, not the product's 10 s deadline (a CI bound by CPU can pass it at a first plan).
    deadlineMs: 60_000,
  });
}, 120_000);

afterAll(async () => {
  planner?.close();
  world?.destroy();
  await removeBackup(backup);
});

/** The generated policies with the worker role's S3 statements replaced by `s3`. */
function withS3Statements(s3: PolicyStatement[]): GeneratedPolicies {
  const statements = [world.generated.workerRolePolicy.Statement].flat();
  return {
    ...world.generated,
    workerRolePolicy: {
      Version: '2012-10-17',
      Statement: [...statements.filter((s) => !s.Sid?.startsWith('BackupRepository')), ...s3],
    },
  };
}

const planOf = () => planner.plan(world.request(backup.restorePoint.id));

describe('a restore from an S3 backup repository: the worker role may read it', () => {
  it('with the generated policy: the catalogue lists the restore point, and the plan passes every check, repository.access among them', async () => {
    expect((await repository.listRestorePoints()).map((p) => p.id)).toContain(backup.restorePoint.id);
    const { plan } = await planOf();
    expect(plan.checks.filter((c) => c.status !== 'pass')).toEqual([]);
    expect(plan.checks.find((c) => c.id === 'repository.access')?.message).toContain(location);
  });

  it('a role that may read the manifests but not the blocks: the plan fails, naming the role, the action, the resource and the statements to add; the emulator refuses a block read', async () => {
    const objects = `arn:aws:s3:::${world.s3Repository?.bucket}/${world.s3Repository?.prefix}`;
    const manifestsOnly: PolicyStatement[] = [
      { Sid: 'Manifests', Effect: 'Allow', Action: 's3:GetObject', Resource: `${objects}/restore-points/*` },
      {
        Sid: 'List',
        Effect: 'Allow',
        Action: 's3:ListBucket',
        Resource: `arn:aws:s3:::${world.s3Repository?.bucket}`,
      },
    ];
    await world.apply(withS3Statements(manifestsOnly));
    try {
      const { plan } = await planOf();
      expect(plan.ok).toBe(false);
      const check = plan.checks.find((c) => c.id === 'repository.access');
      expect(check?.status).toBe('fail');
      expect(check?.message).toContain(world.workerRoleArn);
      expect(check?.message).toContain(`s3:GetObject on ${objects}/blocks/*`);
      expect(check?.remedy?.policy?.statements).toEqual(
        [world.generated.workerRolePolicy.Statement]
          .flat()
          .filter((s) => s.Sid?.startsWith('BackupRepository')),
      );
      // What the check foresaw, the snapshot worker would meet: S3 refuses the block as AWS does.
      const volume = await repository.openVolume(backup.restorePoint.id, '/dev/xvda');
      let first: (BlockRef & { sha256: string }) | undefined;
      for await (const ref of volume.blocks())
        if (!first && ref.sha256) first = { ...ref, sha256: ref.sha256 };
      expect(first, 'the block list (under restore-points/) is readable').toBeDefined();
      await expect(volume.readBlock(first!, Buffer.alloc(BLOCK_SIZE))).rejects.toMatchObject({
        name: 'AccessDenied',
      });
    } finally {
      await world.apply(world.generated);
    }
  });

  it('a role without any S3 permission: the emulator refuses its reads, and the API answers 403 access_denied naming the action and the fix (plan, catalogue, one restore point)', async () => {
    const api = await startApi({ repositoryPath: location, workerCredentials: world.workerCredentials() });
    await world.apply(withS3Statements([]));
    try {
      const cases: Array<[string, Promise<Response>, string]> = [
        ['plan', api.post('/v1/restores/plan', world.request(backup.restorePoint.id)), 's3:GetObject'],
        ['catalogue', api.call('/v1/restore-points'), 's3:ListBucket'],
        ['restore point', api.call(`/v1/restore-points/${backup.restorePoint.id}`), 's3:GetObject'],
      ];
      for (const [what, response, action] of cases) {
        const answer = await response;
        const body = (await answer.json()) as { error: { code: string; message: string; details: unknown } };
        expect([what, answer.status, body.error.code]).toEqual([what, 403, 'access_denied']);
        expect(body.error.details).toEqual({ action });
        expect(body.error.message).toContain('generatePolicies writes for s3Repository');
        expect(body.error.message).not.toContain(world.s3Repository?.bucket);
      }
    } finally {
      await world.apply(world.generated);
      await api.close();
    }
  });
});
