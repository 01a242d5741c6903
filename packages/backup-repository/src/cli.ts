import { isAbsolute, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { createAwsClients } from '@ec2-restore/aws-clients';
import { BLOCK_SIZE } from './block.ts';
import { BackupRepositoryError } from './errors.ts';
import { instanceMetadataSchema, type VolumeType, volumeTypeSchema } from './manifest.ts';
import { openBackupRepository } from './open-repository.ts';
import { ProgressBar } from './progress-bar.ts';
import type { BackupRepository } from './repository.ts';
import type { SourceBlock, VolumeSpec } from './restore-point-builder.ts';
import {
  ebsSnapshotVolumeSizeGiB,
  rawImageSize,
  readEbsSnapshot,
  readRawImage,
  volumeSizeGiBForBytes,
} from './sources.ts';
import { verifyRestorePoint } from './verify.ts';

const USAGE = `Usage: ec2-restore-backup <command> [options]   (in the repo: pnpm backup <command> ...)

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
  --instance-type TYPE        e.g. t3.micro (required)
  --platform linux|windows    (default linux)
  --architecture ARCH         x86_64 or arm64 (default x86_64)
  --root-device DEVICE        (default: the first volume's device)
  --subnet-id ID  --vpc-id ID  --availability-zone AZ  --private-ip IP
  --security-group-id ID      (repeat)
  --tag KEY=VALUE             (repeat)
  --id ID                     restore point id (default: generated)
  --description TEXT
`;

export class UsageError extends Error {}

interface VolumeArgument {
  deviceName: string;
  source: string;
  volumeType: VolumeType;
  iops?: number;
  throughput?: number;
  sizeGiB?: number;
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
    } else if ((key === 'iops' || key === 'throughput' || key === 'size') && positiveInt) {
      if (key === 'size') result.sizeGiB = number;
      else result[key] = number;
    } else {
      throw new UsageError(
        `${option} '${value}': '${extra}' is not understood; use type=gp3, iops=N, throughput=N or size=GiB (N a positive integer)`,
      );
    }
  }
  return result;
}

/** pnpm runs scripts from the workspace root; resolve paths against the folder the user typed in. */
function userPath(path: string): string {
  return isAbsolute(path) ? path : resolve(process.env.INIT_CWD ?? process.cwd(), path);
}

function repositoryFrom(values: {
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

interface Output {
  json: boolean;
  print(text: string): void;
  progress(label: string): ((done: number, total: number) => void) & { finish(): void };
}

function makeOutput(json: boolean): Output {
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

const options = {
  repository: { type: 'string' },
  json: { type: 'boolean', default: false },
  region: { type: 'string' },
  endpoint: { type: 'string' },
  volume: { type: 'string', multiple: true },
  snapshot: { type: 'string', multiple: true },
  'instance-type': { type: 'string' },
  platform: { type: 'string', default: 'linux' },
  architecture: { type: 'string', default: 'x86_64' },
  'root-device': { type: 'string' },
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

type Values = ReturnType<typeof parseArgs<{ options: typeof options; allowPositionals: true }>>['values'];

async function create(values: Values, out: Output): Promise<void> {
  const images = (values.volume ?? []).map((v) => parseVolumeArgument('--volume', v));
  const snapshots = (values.snapshot ?? []).map((v) => parseVolumeArgument('--snapshot', v));
  const all = [...images, ...snapshots];
  if (all.length === 0) {
    throw new UsageError('create needs at least one --volume DEVICE=IMAGE or --snapshot DEVICE=snap-ID.');
  }
  if (values['instance-type'] === undefined) {
    throw new UsageError('create needs --instance-type (the type of the backed-up instance, e.g. t3.micro).');
  }
  const tags: Record<string, string> = {};
  for (const tag of values.tag ?? []) {
    const eq = tag.indexOf('=');
    if (eq <= 0) throw new UsageError(`--tag '${tag}': write it as KEY=VALUE, e.g. --tag Name=web-1`);
    tags[tag.slice(0, eq)] = tag.slice(eq + 1);
  }
  const instance = {
    instanceType: values['instance-type'],
    platform: values.platform,
    architecture: values.architecture,
    rootDeviceName: values['root-device'] ?? all[0]!.deviceName,
    network: {
      securityGroupIds: values['security-group-id'] ?? [],
      ...(values['subnet-id'] ? { subnetId: values['subnet-id'] } : {}),
      ...(values['vpc-id'] ? { vpcId: values['vpc-id'] } : {}),
      ...(values['availability-zone'] ? { availabilityZone: values['availability-zone'] } : {}),
      ...(values['private-ip'] ? { privateIpAddress: values['private-ip'] } : {}),
    },
    tags,
  };
  const checked = instanceMetadataSchema.safeParse(instance);
  if (!checked.success) {
    const optionOf: Record<string, string> = {
      instanceType: '--instance-type',
      platform: '--platform',
      architecture: '--architecture',
      rootDeviceName: '--root-device',
    };
    throw new UsageError(
      checked.error.issues
        .map((i) => `${optionOf[String(i.path[0])] ?? i.path.join('.')}: ${i.message}`)
        .join('; '),
    );
  }
  if (!all.some((v) => v.deviceName === instance.rootDeviceName)) {
    throw new UsageError(
      `--root-device ${instance.rootDeviceName} is not one of the volumes (${all.map((v) => v.deviceName).join(', ')}).`,
    );
  }

  const repository = repositoryFrom(values);
  const ebs =
    snapshots.length > 0
      ? createAwsClients({
          region: values.region ?? process.env.AWS_REGION ?? 'us-east-1',
          ...(values.endpoint ? { endpoint: values.endpoint } : {}),
        }).ebs
      : undefined;
  const builder = repository.createRestorePoint({
    ...(values.id ? { id: values.id } : {}),
    ...(values.description ? { description: values.description } : {}),
    source:
      snapshots.length > 0
        ? { kind: 'ebs-snapshots', snapshotIds: snapshots.map((s) => s.source) }
        : { kind: 'raw-images' },
    instance: checked.data,
  });

  for (const volume of all) {
    const isImage = images.includes(volume);
    let sizeGiB: number;
    let blocks: AsyncIterable<SourceBlock>;
    if (isImage) {
      const path = userPath(volume.source);
      let bytes: number;
      try {
        bytes = await rawImageSize(path);
      } catch {
        throw new UsageError(
          `--volume ${volume.deviceName}=${volume.source}: cannot read ${path}; check the path.`,
        );
      }
      const needed = volumeSizeGiBForBytes(bytes);
      if (volume.sizeGiB !== undefined && volume.sizeGiB < needed) {
        throw new UsageError(
          `--volume ${volume.deviceName}: size=${volume.sizeGiB} is smaller than the image (${needed} GiB); raise it or drop size=.`,
        );
      }
      sizeGiB = volume.sizeGiB ?? needed;
      blocks = readRawImage(path);
    } else {
      sizeGiB = await ebsSnapshotVolumeSizeGiB(ebs!, volume.source);
      blocks = readEbsSnapshot(ebs!, volume.source);
    }
    const spec: VolumeSpec = {
      deviceName: volume.deviceName,
      sizeGiB,
      volumeType: volume.volumeType,
      ...(volume.iops !== undefined ? { iops: volume.iops } : {}),
      ...(volume.throughput !== undefined ? { throughput: volume.throughput } : {}),
    };
    const bar = out.progress(volume.deviceName);
    await builder.addVolume(spec, blocks, (done, total) => bar(done * BLOCK_SIZE, total * BLOCK_SIZE));
    bar.finish();
  }
  const manifest = await builder.commit();
  const summary = await repository.getSummary(manifest.id);
  if (out.json) out.print(JSON.stringify(summary, null, 2));
  else {
    out.print(`Created restore point ${manifest.id} in ${repository.location}`);
    for (const v of summary.volumes)
      out.print(`  ${v.deviceName}  ${v.sizeGiB} GiB  ${v.volumeType}${v.root ? '  (root)' : ''}`);
    out.print(
      `  data: ${(summary.dataBytes / 1024 ** 2).toFixed(1)} MiB of ${(summary.totalBytes / 1024 ** 3).toFixed(1)} GiB`,
    );
  }
}

async function list(values: Values, out: Output): Promise<void> {
  const repository = repositoryFrom(values);
  const points = await repository.listRestorePoints();
  if (out.json) return out.print(JSON.stringify(points, null, 2));
  if (points.length === 0) return out.print(`No restore points in ${repository.location}.`);
  for (const p of points) {
    const volumes = p.volumes.map((v) => `${v.deviceName}:${v.sizeGiB}GiB`).join(' ');
    out.print(
      `${p.id}  ${p.createdAt}  ${p.instance.instanceType}  ${volumes}${p.description ? `  ${p.description}` : ''}`,
    );
  }
}

async function show(id: string, values: Values, out: Output): Promise<void> {
  const repository = repositoryFrom(values);
  const summary = await repository.getSummary(id);
  if (out.json) return out.print(JSON.stringify(summary, null, 2));
  out.print(`${summary.id}  created ${summary.createdAt}`);
  out.print(
    `  instance: ${summary.instance.instanceType} ${summary.instance.platform} ${summary.instance.architecture}, root ${summary.instance.rootDeviceName}`,
  );
  for (const v of summary.volumes)
    out.print(`  ${v.deviceName}  ${v.sizeGiB} GiB  ${v.volumeType}${v.root ? '  (root)' : ''}`);
}

async function verify(id: string, values: Values, out: Output): Promise<boolean> {
  const repository = repositoryFrom(values);
  const bar = out.progress('verify');
  const result = await verifyRestorePoint(repository, id, { onProgress: bar });
  bar.finish();
  if (out.json) out.print(JSON.stringify(result, null, 2));
  else {
    for (const v of result.volumes) {
      out.print(
        `${v.deviceName}: ${v.blocksChecked}/${v.blockCount} blocks checked, ${v.problems.length === 0 ? 'ok' : `${v.problems.length} problem(s)`}`,
      );
      for (const p of v.problems) out.print(`  ${p}`);
    }
    out.print(result.ok ? `Restore point ${id} is intact.` : `Restore point ${id} is damaged.`);
  }
  return result.ok;
}

/** Runs the CLI; returns the exit code (0 ok, 1 failed, 2 usage error). */
export async function main(argv: string[]): Promise<number> {
  let parsed: ReturnType<typeof parseArgs<{ options: typeof options; allowPositionals: true }>>;
  try {
    parsed = parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n\n${USAGE}`);
    return 2;
  }
  const { values, positionals } = parsed;
  const [command, ...rest] = positionals;
  if (values.help || command === undefined || command === 'help') {
    process.stdout.write(USAGE);
    return command === undefined && !values.help ? 2 : 0;
  }
  const out = makeOutput(values.json);
  try {
    switch (command) {
      case 'create':
        await create(values, out);
        return 0;
      case 'list':
        await list(values, out);
        return 0;
      case 'show':
      case 'verify': {
        const id = rest[0];
        if (id === undefined)
          throw new UsageError(`${command} needs a restore point id: ${command} <ID> (see \`list\`).`);
        if (command === 'show') {
          await show(id, values, out);
          return 0;
        }
        return (await verify(id, values, out)) ? 0 : 1;
      }
      default:
        throw new UsageError(`Unknown command '${command}'; use create, list, show or verify.`);
    }
  } catch (err) {
    const usage = err instanceof UsageError;
    const message = (err as Error).message;
    if (values.json) {
      const code = usage ? 'usage' : err instanceof BackupRepositoryError ? err.code : 'error';
      process.stdout.write(`${JSON.stringify({ error: { code, message } })}\n`);
    } else process.stderr.write(`error: ${message}\n`);
    return usage ? 2 : 1;
  }
}

// Only when run as a program (not when imported by tests).
if (process.argv[1] && import.meta.url === new URL(`file://${resolve(process.argv[1])}`).href) {
  process.exitCode = await main(process.argv.slice(2));
}
