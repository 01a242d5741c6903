/**
 * Read-back (verified restore) benchmark: peak RSS and throughput of the two verifiers on volumes of
 * growing size, each run in a fresh process. Memory must not grow with the data: the RSS ratio between
 * the largest and the smallest volume should stay near 1.
 *
 *   pnpm bench:verify                        # device read-back (worker-volume), 1 and 4 GiB
 *   pnpm bench:verify --sizes 1,2,8
 *   pnpm bench:verify --emulator-sizes 1,2   # also the snapshot read-back (ebs-direct) on the local emulator
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, promisify } from 'node:util';
import { CreateKeyCommand } from '@aws-sdk/client-kms';
import { createAwsClients } from '@ec2-restore/aws-clients';
import { openBackupRepository } from '@ec2-restore/backup-repository';
import { credentialsForAccount, randomAccountId, startEmulator } from '@ec2-restore/local-aws';
import { EbsDirectWriter } from '@ec2-restore/snapshot-writers';
import { generate } from '../data-path/generate-restore-point.ts';

const here = dirname(fileURLToPath(import.meta.url));
const MIB = 1024 ** 2;
const { values } = parseArgs({
  options: {
    sizes: { type: 'string', default: '1,4' },
    'emulator-sizes': { type: 'string', default: '' },
  },
});
const sizes = values.sizes.split(',').filter(Boolean).map(Number);
const emulatorSizes = values['emulator-sizes'].split(',').filter(Boolean).map(Number);

interface Measured {
  seconds: number;
  cpuSeconds: number;
  maxRssBytes: number;
  bytes: number;
  mismatchCount: number;
}

const log = (line: string) => process.stderr.write(`${line}\n`);

async function scenario(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Measured> {
  const { stdout } = await promisify(execFile)(
    process.execPath,
    ['--import', 'tsx', join(here, 'verify-scenario.ts'), ...args],
    { env: { ...process.env, ...env }, maxBuffer: 1 << 20 },
  );
  const measured = JSON.parse(stdout.trim().split('\n').pop()!) as Measured;
  if (measured.mismatchCount !== 0)
    throw new Error(`a good copy read back with ${measured.mismatchCount} mismatches`);
  return measured;
}

const rows: { run: string; gib: number; m: Measured }[] = [];
const dir = await mkdtemp(join(tmpdir(), 'bench-verify-'));
const repositoryPath = join(dir, 'repo');
try {
  for (const gib of [...new Set([...sizes, ...emulatorSizes])].sort((a, b) => a - b)) {
    log(`generating a ${gib} GiB restore point (a third zero blocks) ...`);
    const imagePath = await generate(dir, `rp-${gib}`, gib);
    if (sizes.includes(gib)) {
      const m = await scenario([
        '--mode',
        'device',
        '--repository',
        repositoryPath,
        '--restore-point',
        `rp-${gib}`,
        '--device-path',
        imagePath,
      ]);
      rows.push({ run: 'device read-back (worker-volume), 16 at once', gib, m });
    }
  }
  if (emulatorSizes.length > 0) {
    log('starting the local AWS emulator ...');
    const emulator = await startEmulator();
    try {
      const credentials = credentialsForAccount(randomAccountId());
      const aws = createAwsClients({ region: 'eu-west-1', credentials, endpoint: emulator.endpoint });
      const key = (await aws.kms.send(new CreateKeyCommand({}))).KeyMetadata!.Arn!;
      const writer = new EbsDirectWriter({
        repository: openBackupRepository(repositoryPath),
        ebs: aws.ebs,
        ec2: aws.ec2,
        completionPollMs: 200,
      });
      for (const gib of emulatorSizes) {
        log(`writing the ${gib} GiB snapshot into the emulator ...`);
        const { snapshotId } = await writer.writeVolume({
          restorePointId: `rp-${gib}`,
          deviceName: '/dev/xvda',
          target: { restoreId: `bench-${gib}`, kmsKeyArn: key },
        });
        const m = await scenario(
          [
            '--mode',
            'snapshot',
            '--repository',
            repositoryPath,
            '--restore-point',
            `rp-${gib}`,
            '--snapshot-id',
            snapshotId,
            '--endpoint',
            emulator.endpoint,
          ],
          { AWS_ACCESS_KEY_ID: credentials.accessKeyId, AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey },
        );
        rows.push({ run: 'snapshot read-back (ebs-direct, emulator), 32 at once', gib, m });
      }
      aws.destroy();
    } finally {
      await emulator.stop();
    }
  }
} finally {
  await rm(dir, { recursive: true, force: true });
}

console.log('| run | GiB | MiB/s | CPU s/GiB | peak RSS |');
console.log('| --- | --- | --- | --- | --- |');
for (const { run, gib, m } of rows) {
  console.log(
    `| ${run} | ${gib} | ${(m.bytes / MIB / m.seconds).toFixed(0)} | ${(m.cpuSeconds / gib).toFixed(2)} | ${(m.maxRssBytes / MIB).toFixed(0)} MiB |`,
  );
}
for (const run of new Set(rows.map((r) => r.run))) {
  const of = rows.filter((r) => r.run === run).sort((a, b) => a.gib - b.gib);
  if (of.length < 2) continue;
  const first = of[0]!;
  const last = of.at(-1)!;
  const ratio = last.m.maxRssBytes / first.m.maxRssBytes;
  console.log(
    `${run}: peak RSS ${last.gib} GiB / ${first.gib} GiB = ${ratio.toFixed(2)}x for ${last.gib / first.gib}x the data: ${ratio < 1.25 ? 'flat (met)' : 'GROWS (MISSED)'}`,
  );
}
