import { restoreStatuses } from '@ec2-restore/contracts/statuses';
import { type CommandName, commandNames } from './command-names.ts';
import { requestFlags } from './request-flags.ts';

const commandSummaries: Record<CommandName, string> = {
  plan: 'dry run: the pre-flight checks, steps and resources of a restore (creates nothing)',
  restore: 'start a restore and follow it to the end (refuses with the failing checks and remedies)',
  watch: 'follow a restore: a progress bar per volume, bytes and ETA, then the result',
  list: 'list restores, newest first',
  show: 'one restore: status, steps, progress, result or error',
  cancel: 'cancel a restore; what it created is cleaned up',
  points: 'list the restore points (or show one: points ID)',
};

/** The usage text, for one command or all. */
export function usage(command?: CommandName): string {
  const connection = [
    'Connection (every command):',
    '  --endpoint URL        the API, e.g. http://localhost:8080   (env EC2_RESTORE_ENDPOINT)',
    '  --token TOKEN         a bearer token of the API             (env EC2_RESTORE_TOKEN)',
    '  --json                machine-readable output: one JSON document on stdout',
    '  Without either, the settings of `bash scripts/start.sh` running from this folder are used.',
  ];
  const exitCodes = [
    'Exit codes: 0 succeeded, 1 failed (or the API could not be reached), 2 usage or invalid request,',
    '            3 pre-flight refused (nothing created), 4 cancelled, 130 interrupted (the restore goes on).',
  ];
  const requestHelp = [
    'Request (the body of POST /v1/restores):',
    '  -f, --file PATH       the request as JSON (- reads standard input); flags below override its fields',
    ...Object.entries(requestFlags).map(
      ([flag, { help, field }]) =>
        `  --${`${flag}${flag === 'power-on' || flag === 'transfer-key' ? '' : ' V'}`.padEnd(19)} ${help} [${field}]`,
    ),
  ];
  if (command === undefined) {
    return [
      'ec2-restore: plan, run and follow restores of EC2 instances through the ec2-restore API',
      '',
      'Usage: ec2-restore COMMAND [options]',
      '',
      'Commands:',
      ...commandNames.map((name) => `  ${name.padEnd(8)} ${commandSummaries[name]}`),
      '',
      ...connection,
      '',
      ...exitCodes,
      '',
      'ec2-restore COMMAND --help shows the options of a command.',
    ].join('\n');
  }
  const synopsis: Record<CommandName, string> = {
    plan: 'ec2-restore plan (--file request.json | request flags) [--json]',
    restore:
      'ec2-restore restore (--file request.json | request flags) [--detach] [--idempotency-key KEY] [--json]',
    watch: 'ec2-restore watch ID [--json]',
    list: 'ec2-restore list [--status STATUS] [--limit N] [--json]',
    show: 'ec2-restore show ID [--json]',
    cancel: 'ec2-restore cancel ID [--wait] [--json]',
    points: 'ec2-restore points [ID] [--json]',
  };
  const extra: Record<CommandName, string[]> = {
    plan: ['Exits 0 when every check passes, 3 when one fails.', '', ...requestHelp],
    restore: [
      '  --detach              print the accepted restore and exit 0 instead of following it',
      '  --idempotency-key K   the same key and body return the first restore instead of a second one',
      '',
      ...requestHelp,
    ],
    watch: ["Exits with the restore's outcome: 0 succeeded, 1 failed, 4 cancelled."],
    list: [
      `  --status S            only restores in this status (${restoreStatuses.join(', ')})`,
      '  --limit N             at most N (1-500)',
    ],
    show: [],
    cancel: ['  --wait                follow the restore until it has stopped and cleaned up (exit 4)'],
    points: [],
  };
  return [
    `${synopsis[command]}`,
    '',
    commandSummaries[command],
    '',
    ...extra[command],
    ...(extra[command].length > 0 ? [''] : []),
    ...connection,
    '',
    ...exitCodes,
  ].join('\n');
}
