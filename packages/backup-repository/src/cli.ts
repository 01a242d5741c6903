import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import {
  makeOutput,
  type Output,
  options,
  repositoryFrom,
  USAGE,
  UsageError,
  type Values,
} from './cli-options.ts';
import { create } from './create-command.ts';
import { BackupRepositoryError } from './errors.ts';
import { verifyRestorePoint } from './verify.ts';

export { parseVolumeArgument, UsageError } from './cli-options.ts';

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
  const i = summary.instance;
  out.print(
    `  boot: ${i.bootMode ?? 'boot mode not recorded'}, ENA ${i.enaSupport === undefined ? 'not recorded' : i.enaSupport ? 'yes' : 'no'}, IMDSv2 ${i.imdsHttpTokens ?? 'not recorded'}, billing ${i.billing?.usageOperation ?? 'not recorded'}${i.billing?.platformDetails ? ` (${i.billing.platformDetails})` : ''}`,
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
