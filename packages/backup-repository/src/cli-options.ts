import { isAbsolute, resolve } from 'node:path';
import type { parseArgs } from 'node:util';
import { type VolumeType, volumeTypeSchema } from './manifest.ts';
import { openBackupRepository } from './open-repository.ts';
import { ProgressBar } from './progress-bar.ts';
import type { BackupRepository } from './repository.ts';

export const USAGE = `Usage: ec2-restore-backup <command> [options]   (in the repo: pnpm backup <command> ...)

Commands:
  create     Create a restore point from raw disk images and/or EBS snapshots
  list       List the restore points
  show ID    Print one restore point's manifest summary
  verify ID  Re-read and re-hash every block of a restore point (exit 1 when any is bad)

Common options:
  --repository LOC   folder path or s3://bucket/prefix (default: $BACKUP_REPOSITORY)
  --json             print JSON instead of text
  --region REGION    AWS region for S3 and EBS (default: $AWS_REGION or us-east-1)
  --endpoint URL     AWS endpoint override (default: $AWS_ENDPOINT_URL)

create options:
  --volume DEVICE=IMAGE[,type=gp3][,iops=N][,throughput=N][,size=GiB]   a raw image per volume (repeat)
  --snapshot DEVICE=snap-ID[,type=gp3][,iops=N][,throughput=N]          an EBS snapshot per volume (repeat)
    (volume options also: delete-on-termination=true|false; default root true, others false)
  --from-instance ID          read the instance's attributes below from EC2 (DescribeInstances and
                              DescribeImages of its image); options given explicitly win. Without it,
                              a root --snapshot registered in an image of yours lends that image's.
  --instance-type TYPE        e.g. t3.micro (required unless read from EC2)
  --platform linux|windows    (default linux)
  --architecture ARCH         x86_64 or arm64 (default x86_64)
  --root-device DEVICE        (default: the first volume's device)
  --boot-mode MODE            legacy-bios, uefi or uefi-preferred (default: not recorded)
  --ena-support true|false    whether the image supports ENA
  --imds required|optional    IMDSv2 required, or IMDSv1 allowed too
  --virtualization-type hvm|paravirtual
  --platform-details TEXT     billing, e.g. "Linux/UNIX", "Windows", "Red Hat Enterprise Linux"
  --usage-operation OP        billing, e.g. RunInstances or RunInstances:0002
  --billing-product CODE      billing product code, e.g. bp-6fa54006 (repeat)
  --subnet-id ID  --vpc-id ID  --availability-zone AZ  --private-ip IP
  --security-group-id ID      (repeat)
  --tag KEY=VALUE             (repeat)
  --id ID                     restore point id (default: generated)
  --description TEXT
`;

export class UsageError extends Error {}

export interface VolumeArgument {
  deviceName: string;
  source: string;
  volumeType: VolumeType;
  iops?: number;
  throughput?: number;
  sizeGiB?: number;
  deleteOnTermination?: boolean;
}

/** Parses `DEVICE=SOURCE[,key=value...]` as given to --volume or --snapshot. */
export function parseVolumeArgument(option: '--volume' | '--snapshot', value: string): VolumeArgument {
  const [head, ...extras] = value.split(',');
  const eq = head?.indexOf('=') ?? -1;
  if (head === undefined || eq <= 0 || eq === head.length - 1) {
    throw new UsageError(
      `${option} '${value}': write it as DEVICE=${option === '--volume' ? 'IMAGE' : 'snap-ID'}, e.g. ${option} /dev/xvda=${option === '--volume' ? 'disk.img' : 'snap-0123456789abcdef0'}`,
    );
  }
  const deviceName = head.slice(0, eq);
  const source = head.slice(eq + 1);
  if (!/^\/dev\/[a-z0-9]+$/.test(deviceName)) {
    throw new UsageError(
      `${option} '${value}': '${deviceName}' is not a device name; use one like /dev/xvda`,
    );
  }
  if (option === '--snapshot' && !/^snap-[0-9a-f]+$/.test(source)) {
    throw new UsageError(
      `${option} '${value}': '${source}' is not a snapshot id; use one like snap-0123456789abcdef0`,
    );
  }
  const result: VolumeArgument = { deviceName, source, volumeType: 'gp3' };
  for (const extra of extras) {
    const [key, raw] = extra.split('=');
    const number = Number(raw);
    const positiveInt = raw !== undefined && Number.isInteger(number) && number > 0;
    if (key === 'type') {
      const type = volumeTypeSchema.safeParse(raw);
      if (!type.success) {
        throw new UsageError(
          `${option} '${value}': type must be one of ${volumeTypeSchema.options.join(', ')}`,
        );
      }
      result.volumeType = type.data;
    } else if (key === 'delete-on-termination' && (raw === 'true' || raw === 'false')) {
      result.deleteOnTermination = raw === 'true';
    } else if ((key === 'iops' || key === 'throughput' || key === 'size') && positiveInt) {
      if (key === 'size') result.sizeGiB = number;
      else result[key] = number;
    } else {
      throw new UsageError(
        `${option} '${value}': '${extra}' is not understood; use type=gp3, iops=N, throughput=N, size=GiB (N a positive integer) or delete-on-termination=true|false`,
      );
    }
  }
  return result;
}

/** pnpm runs scripts from the workspace root; resolve paths against the folder the user typed in. */
export function userPath(path: string): string {
  return isAbsolute(path) ? path : resolve(process.env.INIT_CWD ?? process.cwd(), path);
}

export function repositoryFrom(values: {
  repository?: string | undefined;
  region?: string | undefined;
  endpoint?: string | undefined;
}): BackupRepository {
  const location = values.repository ?? process.env.BACKUP_REPOSITORY;
  if (location === undefined || location === '') {
    throw new UsageError(
      'No backup repository: pass --repository <folder or s3://bucket/prefix> or set BACKUP_REPOSITORY.',
    );
  }
  return openBackupRepository(location.startsWith('s3://') ? location : userPath(location), {
    ...(values.region ? { region: values.region } : {}),
    ...(values.endpoint ? { endpoint: values.endpoint } : {}),
  });
}

export interface Output {
  json: boolean;
  print(text: string): void;
  progress(label: string): ((done: number, total: number) => void) & { finish(): void };
}

export function makeOutput(json: boolean): Output {
  const tty = process.stdout.isTTY === true && !json;
  return {
    json,
    print: (text) => process.stdout.write(`${text}\n`),
    progress(label) {
      if (!tty) return Object.assign(() => {}, { finish() {} });
      const bar = new ProgressBar(process.stdout, label);
      let last: [number, number] = [0, 0];
      return Object.assign(
        (done: number, total: number) => {
          last = [done, total];
          bar.update(done, total);
        },
        {
          finish() {
            bar.update(last[0], last[1], true);
            bar.finish();
          },
        },
      );
    },
  };
}

export const options = {
  repository: { type: 'string' },
  json: { type: 'boolean', default: false },
  region: { type: 'string' },
  endpoint: { type: 'string' },
  volume: { type: 'string', multiple: true },
  snapshot: { type: 'string', multiple: true },
  'instance-type': { type: 'string' },
  'from-instance': { type: 'string' },
  platform: { type: 'string' },
  architecture: { type: 'string' },
  'root-device': { type: 'string' },
  'boot-mode': { type: 'string' },
  'ena-support': { type: 'string' },
  imds: { type: 'string' },
  'virtualization-type': { type: 'string' },
  'platform-details': { type: 'string' },
  'usage-operation': { type: 'string' },
  'billing-product': { type: 'string', multiple: true },
  'subnet-id': { type: 'string' },
  'vpc-id': { type: 'string' },
  'availability-zone': { type: 'string' },
  'private-ip': { type: 'string' },
  'security-group-id': { type: 'string', multiple: true },
  tag: { type: 'string', multiple: true },
  id: { type: 'string' },
  description: { type: 'string' },
  help: { type: 'boolean', short: 'h', default: false },
} as const;

export type Values = ReturnType<
  typeof parseArgs<{ options: typeof options; allowPositionals: true }>
>['values'];
