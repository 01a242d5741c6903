/** One run of the command line: parse, call the API, print, and return the exit code. */
import { readFileSync } from 'node:fs';
import { type Invocation, parseInvocation } from './args.ts';
import { ApiClient, ApiRequestError } from './client.ts';
import {
  cancelCommand,
  listCommand,
  planCommand,
  pointsCommand,
  restoreCommand,
  showCommand,
  watchCommand,
} from './commands.ts';
import type { CommandContext } from './context.ts';
import { CliError, ExitCode, UsageError } from './exit-codes.ts';
import { type Output, styles } from './output.ts';
import { usage } from './usage.ts';

export interface Io {
  stdout: Output;
  stderr: Output;
  signal: AbortSignal;
}

function version(): string {
  // ../package.json from src/ (sources) and from dist/ (compiled) alike.
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  return pkg.version;
}

async function runCommand(invocation: Extract<Invocation, { kind: 'command' }>, io: Io): Promise<ExitCode> {
  const ctx: CommandContext = {
    client: new ApiClient(invocation.connection),
    stdout: io.stdout,
    stderr: io.stderr,
    json: invocation.json,
    signal: io.signal,
  };
  switch (invocation.command) {
    case 'plan':
      return planCommand(ctx, invocation.request!);
    case 'restore':
      return restoreCommand(ctx, invocation.request!, {
        detach: invocation.detach,
        ...(invocation.idempotencyKey ? { idempotencyKey: invocation.idempotencyKey } : {}),
      });
    case 'watch':
      return watchCommand(ctx, invocation.id!);
    case 'list':
      return listCommand(ctx, {
        ...(invocation.status ? { status: invocation.status } : {}),
        ...(invocation.limit ? { limit: invocation.limit } : {}),
      });
    case 'show':
      return showCommand(ctx, invocation.id!);
    case 'cancel':
      return cancelCommand(ctx, invocation.id!, invocation.wait);
    case 'points':
      return pointsCommand(ctx, invocation.id);
  }
}

/** Runs one command line and returns the exit code; every message is written to io. */
export async function run(argv: readonly string[], io: Io): Promise<ExitCode> {
  const wantsJson = argv.includes('--json');
  let invocation: Invocation | undefined;
  try {
    invocation = parseInvocation(argv);
    if (invocation.kind === 'version') {
      io.stdout.write(`${version()}\n`);
      return ExitCode.Succeeded;
    }
    if (invocation.kind === 'help') {
      io.stdout.write(`${usage(invocation.command)}\n`);
      return ExitCode.Succeeded;
    }
    return await runCommand(invocation, io);
  } catch (error) {
    if (!(error instanceof CliError)) throw error;
    reportError(error, io, wantsJson);
    if (error.exitCode === ExitCode.Interrupted && invocation?.kind === 'command') {
      io.stderr.write(
        'stopped following; the restore goes on (ec2-restore list shows it; watch ID or cancel ID)\n',
      );
    }
    return error.exitCode;
  }
}

function reportError(error: CliError, io: Io, json: boolean): void {
  const s = styles(io.stderr.color);
  if (json) {
    const body =
      error instanceof ApiRequestError && error.error
        ? error.body
        : { error: { code: error instanceof UsageError ? 'usage' : 'cli_error', message: error.message } };
    io.stdout.write(`${JSON.stringify(body, null, 2)}\n`);
  }
  io.stderr.write(`${s.red('ec2-restore:')} ${error.message}\n`);
  if (error instanceof ApiRequestError) {
    const issues = (error.error?.details as { issues?: { path: string; message: string }[] } | undefined)
      ?.issues;
    for (const issue of issues ?? []) io.stderr.write(`  ${issue.path || '(body)'}: ${issue.message}\n`);
  }
  if (error instanceof UsageError) io.stderr.write('Run ec2-restore --help for the commands and options.\n');
}
