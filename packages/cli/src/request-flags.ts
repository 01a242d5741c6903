import { resolve } from 'node:path';
import type { RestoreRequestInput } from '@ec2-restore/contracts';
import { defaultEnvironment } from './connection.ts';
import { UsageError } from './exit-codes.ts';

/* The request of `plan` and `restore`: a JSON file, request flags on top. */

/** Flags that set a field of the restore request, with the field they set. */
export const requestFlags = {
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
export type RequestFlag = keyof typeof requestFlags;

/** The parsed request flags (and --file), by option name. */
export type RequestValues = Partial<Record<RequestFlag | 'file', string | boolean | string[]>>;

/** The request body: --file (a path, or - for standard input) first, each request flag on top. */
export function buildRequest(values: RequestValues, environment = defaultEnvironment): RestoreRequestInput {
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
