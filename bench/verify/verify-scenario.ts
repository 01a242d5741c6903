/**
 * One measured read-back, in its own process so its peak RSS and CPU time are its own:
 *   --mode device    verifyDeviceAgainstRestorePoint over a file holding the volume's bytes (worker-volume)
 *   --mode snapshot  verifySnapshotAgainstRestorePoint over an EBS snapshot (ebs-direct), via --endpoint
 * Prints one JSON line: { seconds, cpuSeconds, maxRssBytes, bytes, mismatchCount }.
 */
import { parseArgs } from 'node:util';
import { createAwsClients } from '@ec2-restore/aws-clients';
import { BLOCK_SIZE, openBackupRepository } from '@ec2-restore/backup-repository';
import {
  verifyDeviceAgainstRestorePoint,
  verifySnapshotAgainstRestorePoint,
} from '@ec2-restore/snapshot-writers';

const { values } = parseArgs({
  options: {
    mode: { type: 'string', default: 'device' },
    repository: { type: 'string' },
    'restore-point': { type: 'string' },
    device: { type: 'string', default: '/dev/xvda' },
    'device-path': { type: 'string' },
    'snapshot-id': { type: 'string' },
    endpoint: { type: 'string' },
    concurrency: { type: 'string' },
  },
});

const repository = openBackupRepository(values.repository!);
const common = {
  repository,
  restorePointId: values['restore-point']!,
  deviceName: values.device!,
  ...(values.concurrency ? { concurrency: Number(values.concurrency) } : {}),
};
const cpuBefore = process.cpuUsage();
const started = process.hrtime.bigint();
const result =
  values.mode === 'device'
    ? await verifyDeviceAgainstRestorePoint({ ...common, devicePath: values['device-path']! })
    : await verifySnapshotAgainstRestorePoint({
        ...common,
        snapshotId: values['snapshot-id']!,
        ebs: createAwsClients({
          region: process.env.AWS_REGION ?? 'eu-west-1',
          ...(values.endpoint ? { endpoint: values.endpoint } : {}),
        }).ebs,
      });
const seconds = Number(process.hrtime.bigint() - started) / 1e9;
const cpu = process.cpuUsage(cpuBefore);
console.log(
  JSON.stringify({
    seconds,
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
    maxRssBytes: process.resourceUsage().maxRSS * 1024,
    bytes: result.blocksChecked * BLOCK_SIZE,
    mismatchCount: result.mismatchCount,
  }),
);
process.exit(0);
