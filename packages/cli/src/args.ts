import { parseArgs } from 'node:util';
import type { RestoreRequestInput } from '@ec2-restore/contracts';
import { type RestoreStatus, restoreStatuses } from '@ec2-restore/contracts/statuses';
import { type CommandName, commandNames } from './command-names.ts';
import { type Connection, defaultEnvironment, resolveConnection } from './connection.ts';
import { UsageError } from './exit-codes.ts';
import { buildRequest, type RequestFlag, requestFlags } from './request-flags.ts';

// parseArgs option kinds: one value, repeatable values, a switch.
const text = { type: 'string' } as const;
const list = { type: 'string', multiple: true } as const;
const flag = { type: 'boolean' } as const;
const options = {
  endpoint: text,
  token: text,
  json: flag,
  help: { type: 'boolean', short: 'h' },
  version: flag,
  file: { type: 'string', short: 'f' },
  detach: flag,
  'idempotency-key': text,
  status: text,
  limit: text,
  wait: flag,
  'restore-point': text,
  account: text,
  region: text,
  'role-arn': text,
  'external-id': text,
  'kms-key': text,
  name: text,
  'instance-type': text,
  subnet: text,
  'security-group': list,
  'power-on': flag,
  tag: list,
  'instance-id': text,
  volume: list,
  'data-path': text,
  'kms-grant': text,
  'transfer-key': flag,
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
