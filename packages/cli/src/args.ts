import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { RestoreRequestInput, RestoreStatus } from '@ec2-restore/contracts';
import { UsageError } from './exit-codes.ts';

export const commandNames = ['plan', 'restore', 'watch', 'list', 'show', 'cancel', 'points'] as const;
export type CommandName = (typeof commandNames)[number];

/** Flags that set a field of the restore request, with the field they set. */
const requestFlags = {
  'restore-point': { field: 'restorePointId', help: 'restore point id (ec2-restore points lists them)' },
  account: { field: 'target.accountId', help: 'target AWS account id (12 digits)' },
  region: { field: 'target.region', help: 'target region, e.g. eu-west-1' },
  'role-arn': { field: 'target.roleArn', help: 'role to assume in the target account (another account)' },
  'external-id': { field: 'target.externalId', help: "ExternalId the role's trust policy requires" },
  'kms-key': { field: 'target.kmsKeyId', help: 'target KMS key: key ARN, key id, alias/NAME or alias ARN' },
  name: { field: 'instance.name', help: 'Name tag of the restored instance' },
  'instance-type': { field: 'instance.instanceType', help: "instance type (default: the restore point's)" },
  subnet: { field: 'instance.subnetId', help: 'subnet id in the target account' },
  'security-group': { field: 'instance.securityGroupIds', help: 'security group id (repeat for several)' },
  'power-on': { field: 'instance.powerOn', help: 'start the instance when done' },
  tag: { field: 'instance.tags', help: 'KEY=VALUE tag on the instance and volumes (repeatable)' },
  'instance-id': { field: 'instance.instanceId', help: 'volume-level: attach to this existing instance' },
  volume: { field: 'volumes', help: 'device name to restore, e.g. /dev/xvdf (repeatable; volume-level)' },
  'data-path': { field: 'dataPath', help: 'ebs-direct (default) or worker-volume' },
  'kms-grant': { field: 'kmsGrant', help: 'none (default) or auto' },
  'transfer-key': {
    field: 'transferKey',
    help: "another account: share snapshots encrypted with the product's transfer key, not the source default key",
  },
} as const;
type RequestFlag = keyof typeof requestFlags;

const options = {
  endpoint: { type: 'string' },
  token: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean' },
  file: { type: 'string', short: 'f' },
  detach: { type: 'boolean' },
  'idempotency-key': { type: 'string' },
  status: { type: 'string' },
  limit: { type: 'string' },
  wait: { type: 'boolean' },
  'restore-point': { type: 'string' },
  account: { type: 'string' },
  region: { type: 'string' },
  'role-arn': { type: 'string' },
  'external-id': { type: 'string' },
  'kms-key': { type: 'string' },
  name: { type: 'string' },
  'instance-type': { type: 'string' },
  subnet: { type: 'string' },
  'security-group': { type: 'string', multiple: true },
  'power-on': { type: 'boolean' },
  tag: { type: 'string', multiple: true },
  'instance-id': { type: 'string' },
  volume: { type: 'string', multiple: true },
  'data-path': { type: 'string' },
  'kms-grant': { type: 'string' },
  'transfer-key': { type: 'boolean' },
} as const;
type OptionName = keyof typeof options;

const globalOptions: readonly OptionName[] = ['endpoint', 'token', 'json', 'help', 'version'];
const requestOptions: readonly OptionName[] = ['file', ...(Object.keys(requestFlags) as RequestFlag[])];

/** The options each command accepts besides the global ones. */
const commandOptions: Record<CommandName, readonly OptionName[]> = {
  plan: requestOptions,
  restore: [...requestOptions, 'detach', 'idempotency-key'],
  watch: [],
  list: ['status', 'limit'],
  show: [],
  cancel: ['wait'],
  points: [],
};

/** Which commands take an id argument: required, optional or none. */
const commandArgument: Record<CommandName, 'required' | 'optional' | 'none'> = {
  plan: 'none',
  restore: 'none',
  watch: 'required',
  list: 'none',
  show: 'required',
  cancel: 'required',
  points: 'optional',
};

const restoreStatuses: readonly RestoreStatus[] = [
  'queued',
  'running',
  'succeeded',
  'failed',
  'cancelling',
  'cancelled',
];

export interface Connection {
  endpoint: string;
  token: string;
}

export type Invocation =
  | { kind: 'help'; command?: CommandName }
  | { kind: 'version' }
  | {
      kind: 'command';
      command: CommandName;
      /** The id argument (watch, show, cancel, points). */
      id?: string;
      json: boolean;
      connection: Connection;
      /** plan and restore: the request body, file first then flags on top. */
      request?: RestoreRequestInput;
      detach: boolean;
      idempotencyKey?: string;
      wait: boolean;
      status?: RestoreStatus;
      limit?: number;
    };

/** Where the connection settings come from, besides flags (injectable for tests). */
export interface Environment {
  env: NodeJS.ProcessEnv;
  cwd: string;
  readFile: (path: string) => string;
}

const defaultEnvironment: Environment = {
  env: process.env,
  cwd: process.cwd(),
  readFile: (path) => readFileSync(path, 'utf8'),
};

/**
 * Parses the command line (without `node` and the script). Throws UsageError naming the problem;
 * reads --file and, when no endpoint or token is given, the running embedded default's settings.
 */
export function parseInvocation(argv: readonly string[], environment = defaultEnvironment): Invocation {
  let parsed: ReturnType<typeof parseArgs<{ options: typeof options; allowPositionals: true }>>;
  try {
    parsed = parseArgs({ args: [...argv], options, allowPositionals: true, strict: true });
  } catch (error) {
    throw new UsageError(`${(error as Error).message.replace(/\. To specify .*$/s, '')}`);
  }
  const { values, positionals } = parsed;
  const [commandWord, ...rest] = positionals;
  if (values.version) return { kind: 'version' };
  if (commandWord === 'help') return { kind: 'help', ...helpTopic(rest[0]) };
  if (commandWord === undefined) {
    if (values.help) return { kind: 'help' };
    throw new UsageError('no command given');
  }
  if (!isCommand(commandWord)) {
    throw new UsageError(`unknown command "${commandWord}"; the commands are ${commandNames.join(', ')}`);
  }
  const command = commandWord;
  if (values.help) return { kind: 'help', command };

  const allowed = new Set<OptionName>([...globalOptions, ...commandOptions[command]]);
  for (const [name, value] of Object.entries(values)) {
    if (value !== undefined && !allowed.has(name as OptionName)) {
      throw new UsageError(`${command} does not take --${name} (ec2-restore ${command} --help)`);
    }
  }

  const arity = commandArgument[command];
  if (rest.length > (arity === 'none' ? 0 : 1)) {
    throw new UsageError(`${command}: unexpected argument "${rest[arity === 'none' ? 0 : 1]}"`);
  }
  const id = rest[0];
  if (arity === 'required' && id === undefined) {
    throw new UsageError(`${command} needs a restore id: ec2-restore ${command} ID`);
  }

  let status: RestoreStatus | undefined;
  if (values.status !== undefined) {
    if (!restoreStatuses.includes(values.status as RestoreStatus)) {
      throw new UsageError(`--status must be one of ${restoreStatuses.join(', ')}`);
    }
    status = values.status as RestoreStatus;
  }
  let limit: number | undefined;
  if (values.limit !== undefined) {
    limit = Number(values.limit);
    if (!Number.isInteger(limit) || limit < 1 || limit > 500) {
      throw new UsageError('--limit must be a whole number from 1 to 500');
    }
  }

  const request = command === 'plan' || command === 'restore' ? buildRequest(values, environment) : undefined;
  return {
    kind: 'command',
    command,
    ...(id !== undefined ? { id } : {}),
    json: values.json ?? false,
    connection: resolveConnection(values.endpoint, values.token, environment),
    ...(request ? { request } : {}),
    detach: values.detach ?? false,
    ...(values['idempotency-key'] !== undefined ? { idempotencyKey: values['idempotency-key'] } : {}),
    wait: values.wait ?? false,
    ...(status ? { status } : {}),
    ...(limit !== undefined ? { limit } : {}),
  };
}

function isCommand(word: string): word is CommandName {
  return (commandNames as readonly string[]).includes(word);
}

function helpTopic(word: string | undefined): { command?: CommandName } {
  if (word === undefined) return {};
  if (!isCommand(word))
    throw new UsageError(`no help for "${word}"; the commands are ${commandNames.join(', ')}`);
  return { command: word };
}

type Values = Partial<Record<OptionName, string | boolean | string[]>>;

/** The request body: --file (a path, or - for standard input) first, each request flag on top. */
export function buildRequest(values: Values, environment = defaultEnvironment): RestoreRequestInput {
  let body: Record<string, unknown> = {};
  const file = values.file;
  if (typeof file === 'string') {
    const path = file === '-' ? '/dev/stdin' : resolve(environment.cwd, file);
    let text: string;
    try {
      text = environment.readFile(path);
    } catch (error) {
      throw new UsageError(
        `--file ${file}: cannot read it (${(error as NodeJS.ErrnoException).code ?? error})`,
      );
    }
    try {
      body = JSON.parse(text);
    } catch (error) {
      throw new UsageError(`--file ${file}: not JSON (${(error as Error).message})`);
    }
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      throw new UsageError(`--file ${file}: expected a JSON object, the body of POST /v1/restores`);
    }
  }
  let anyFlag = false;
  for (const flag of Object.keys(requestFlags) as RequestFlag[]) {
    const value = values[flag];
    if (value === undefined) continue;
    anyFlag = true;
    setField(body, requestFlags[flag].field, flagValue(flag, value));
  }
  if (typeof file !== 'string' && !anyFlag) {
    throw new UsageError(
      'give the request as --file request.json, or with flags (at least --restore-point, --account, --region, --kms-key)',
    );
  }
  return body as RestoreRequestInput;
}

function flagValue(flag: RequestFlag, value: string | boolean | string[]): unknown {
  if (flag === 'tag') {
    const tags: Record<string, string> = {};
    for (const pair of value as string[]) {
      const equals = pair.indexOf('=');
      if (equals <= 0) throw new UsageError(`--tag ${pair}: expected KEY=VALUE`);
      tags[pair.slice(0, equals)] = pair.slice(equals + 1);
    }
    return tags;
  }
  return value;
}

/** Sets `a.b.c` in a plain object, creating the objects on the way; tags merge with the file's. */
function setField(body: Record<string, unknown>, path: string, value: unknown): void {
  const keys = path.split('.');
  let node = body;
  for (const key of keys.slice(0, -1)) {
    const next = node[key];
    if (typeof next !== 'object' || next === null || Array.isArray(next)) node[key] = {};
    node = node[key] as Record<string, unknown>;
  }
  const last = keys.at(-1)!;
  const existing = node[last];
  if (last === 'tags' && typeof existing === 'object' && existing !== null) {
    node[last] = { ...existing, ...(value as object) };
  } else {
    node[last] = value;
  }
}

/** The file the embedded default (`bash scripts/start.sh`) writes with its API URL and token. */
export function embeddedSettingsPath(environment: Environment): string {
  const dataDir = environment.env.EC2_RESTORE_DATA_DIR ?? join(environment.cwd, '.data');
  return resolve(environment.cwd, dataDir, 'embedded.json');
}

/**
 * --endpoint / --token, else EC2_RESTORE_ENDPOINT / EC2_RESTORE_TOKEN, else the settings of an embedded
 * default running from this folder (`.data/embedded.json`, written by `bash scripts/start.sh`).
 */
export function resolveConnection(
  endpointFlag: string | undefined,
  tokenFlag: string | undefined,
  environment: Environment,
): Connection {
  let endpoint = endpointFlag ?? environment.env.EC2_RESTORE_ENDPOINT;
  let token = tokenFlag ?? environment.env.EC2_RESTORE_TOKEN;
  if (endpoint === undefined || token === undefined) {
    try {
      const embedded = JSON.parse(environment.readFile(embeddedSettingsPath(environment))) as {
        apiUrl?: string;
        token?: string;
      };
      endpoint ??= embedded.apiUrl;
      token ??= embedded.token;
    } catch {
      // No embedded default here: the message below says what to set.
    }
  }
  if (endpoint === undefined || endpoint === '') {
    throw new UsageError('no API endpoint: pass --endpoint URL or set EC2_RESTORE_ENDPOINT');
  }
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    throw new UsageError(`--endpoint ${endpoint}: not a URL (e.g. http://localhost:8080)`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new UsageError(`--endpoint ${endpoint}: must be an http:// or https:// URL`);
  }
  if (token === undefined || token === '') {
    throw new UsageError('no API token: pass --token TOKEN or set EC2_RESTORE_TOKEN');
  }
  return { endpoint: endpoint.replace(/\/+$/, ''), token };
}

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
