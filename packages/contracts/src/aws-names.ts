/**
 * AWS naming rules shared by the request schema and the pre-flight checks: regions and their
 * partitions, ARNs, KMS key identifiers, EC2 resource ids, EBS device names.
 *
 * Pure functions; no AWS calls.
 */

/** AWS partitions, and the regions of each (public regions as of 2025; opt-in regions included). */
export const awsRegionsByPartition = {
  aws: [
    'af-south-1',
    'ap-east-1',
    'ap-east-2',
    'ap-northeast-1',
    'ap-northeast-2',
    'ap-northeast-3',
    'ap-south-1',
    'ap-south-2',
    'ap-southeast-1',
    'ap-southeast-2',
    'ap-southeast-3',
    'ap-southeast-4',
    'ap-southeast-5',
    'ap-southeast-6',
    'ap-southeast-7',
    'ca-central-1',
    'ca-west-1',
    'eu-central-1',
    'eu-central-2',
    'eu-north-1',
    'eu-south-1',
    'eu-south-2',
    'eu-west-1',
    'eu-west-2',
    'eu-west-3',
    'il-central-1',
    'me-central-1',
    'me-south-1',
    'mx-central-1',
    'sa-east-1',
    'us-east-1',
    'us-east-2',
    'us-west-1',
    'us-west-2',
  ],
  'aws-cn': ['cn-north-1', 'cn-northwest-1'],
  'aws-us-gov': ['us-gov-east-1', 'us-gov-west-1'],
} as const;

export type AwsPartition = keyof typeof awsRegionsByPartition;
export type AwsRegion = (typeof awsRegionsByPartition)[AwsPartition][number];

/** Every region this product knows, sorted. */
export const awsRegions: readonly AwsRegion[] = (
  Object.values(awsRegionsByPartition).flat() as AwsRegion[]
).sort();

const regionSet: ReadonlySet<string> = new Set(awsRegions);

export function isAwsRegion(value: string): value is AwsRegion {
  return regionSet.has(value);
}

/** The partition a region belongs to (`aws`, `aws-cn`, `aws-us-gov`), or undefined for an unknown region. */
export function partitionOfRegion(region: string): AwsPartition | undefined {
  for (const [partition, regions] of Object.entries(awsRegionsByPartition)) {
    if ((regions as readonly string[]).includes(region)) return partition as AwsPartition;
  }
  return undefined;
}

/** A 12-digit AWS account id. */
export const accountIdPattern = /^\d{12}$/;

/** The parts of an ARN: `arn:partition:service:region:account-id:resource`. */
export interface ParsedArn {
  partition: string;
  service: string;
  region: string;
  accountId: string;
  resource: string;
}

/**
 * Splits an ARN into its parts, or returns a message saying what is wrong with it.
 * See https://docs.aws.amazon.com/IAM/latest/UserGuide/reference-arns.html
 */
export function parseArn(value: string): { ok: true; arn: ParsedArn } | { ok: false; reason: string } {
  const parts = value.split(':');
  if (parts.length < 6 || parts[0] !== 'arn') {
    return { ok: false, reason: 'expected an ARN of the form arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE' };
  }
  const [, partition = '', service = '', region = '', accountId = ''] = parts;
  const resource = parts.slice(5).join(':');
  if (!(partition in awsRegionsByPartition)) {
    return { ok: false, reason: `partition "${partition}" is not one of aws, aws-cn, aws-us-gov` };
  }
  if (!/^[a-z0-9-]+$/.test(service)) return { ok: false, reason: 'the service part is empty or invalid' };
  if (region !== '' && !isAwsRegion(region)) {
    return { ok: false, reason: `region "${region}" is not an AWS region` };
  }
  if (accountId !== '' && !accountIdPattern.test(accountId)) {
    return { ok: false, reason: `account "${accountId}" is not a 12-digit AWS account id` };
  }
  if (resource === '') return { ok: false, reason: 'the resource part is empty' };
  return { ok: true, arn: { partition, service, region, accountId, resource } };
}

/** The parts of an IAM role ARN `arn:aws:iam::123456789012:role/path/Name`. */
export interface ParsedRoleArn extends ParsedArn {
  /** The role path, `/` when none, e.g. `/service-role/`. */
  path: string;
  roleName: string;
}

/** Parses an IAM role ARN; see https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_identifiers.html#identifiers-arns */
export function parseRoleArn(
  value: string,
): { ok: true; arn: ParsedRoleArn } | { ok: false; reason: string } {
  const parsed = parseArn(value);
  if (!parsed.ok) return parsed;
  const { arn } = parsed;
  if (arn.service !== 'iam') return { ok: false, reason: `service is "${arn.service}", expected "iam"` };
  if (arn.region !== '')
    return { ok: false, reason: 'an IAM ARN has an empty region part (arn:aws:iam::ACCOUNT:…)' };
  if (arn.accountId === '') return { ok: false, reason: 'the account part is empty' };
  const match = /^role(\/(?:[\w+=,.@-]+\/)*)([\w+=,.@-]{1,64})$/.exec(arn.resource);
  if (!match) {
    return { ok: false, reason: `resource "${arn.resource}" is not role/NAME (or role/PATH/NAME)` };
  }
  return { ok: true, arn: { ...arn, path: match[1] ?? '/', roleName: match[2] ?? '' } };
}

/** The forms a KMS key can be named by in a request. */
export type KmsKeyReference =
  | { kind: 'key-id'; keyId: string }
  | { kind: 'key-arn'; keyId: string; arn: ParsedArn }
  | { kind: 'alias-name'; aliasName: string }
  | { kind: 'alias-arn'; aliasName: string; arn: ParsedArn };

const keyIdPattern = /^(?:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|mrk-[0-9a-f]{32})$/;
const aliasNamePattern = /^alias\/[a-zA-Z0-9/_-]{1,250}$/;

/**
 * Classifies a KMS key identifier: key id (`1234abcd-…` or multi-Region `mrk-…`), key ARN,
 * alias name (`alias/Name`) or alias ARN.
 * See https://docs.aws.amazon.com/kms/latest/developerguide/concepts.html#key-id
 */
export function parseKmsKeyReference(
  value: string,
): { ok: true; key: KmsKeyReference } | { ok: false; reason: string } {
  if (keyIdPattern.test(value)) return { ok: true, key: { kind: 'key-id', keyId: value } };
  if (value.startsWith('alias/')) {
    return aliasNamePattern.test(value)
      ? { ok: true, key: { kind: 'alias-name', aliasName: value } }
      : { ok: false, reason: 'an alias name is alias/ followed by letters, digits, /, _ or -' };
  }
  if (!value.startsWith('arn:')) {
    return {
      ok: false,
      reason:
        'expected a key id (1234abcd-12ab-34cd-56ef-1234567890ab or mrk-…), a key ARN, alias/NAME or an alias ARN',
    };
  }
  const parsed = parseArn(value);
  if (!parsed.ok) return parsed;
  const { arn } = parsed;
  if (arn.service !== 'kms') return { ok: false, reason: `service is "${arn.service}", expected "kms"` };
  if (arn.region === '' || arn.accountId === '') {
    return { ok: false, reason: 'a KMS ARN names its region and account: arn:aws:kms:REGION:ACCOUNT:key/ID' };
  }
  if (arn.resource.startsWith('key/')) {
    const keyId = arn.resource.slice('key/'.length);
    if (!keyIdPattern.test(keyId)) return { ok: false, reason: `"${keyId}" is not a KMS key id` };
    return { ok: true, key: { kind: 'key-arn', keyId, arn } };
  }
  if (arn.resource.startsWith('alias/')) {
    if (!aliasNamePattern.test(arn.resource)) {
      return { ok: false, reason: 'an alias name is alias/ followed by letters, digits, /, _ or -' };
    }
    return { ok: true, key: { kind: 'alias-arn', aliasName: arn.resource, arn } };
  }
  return { ok: false, reason: `resource "${arn.resource}" is neither key/ID nor alias/NAME` };
}

/**
 * EBS device names accepted for Linux and Windows instances: `/dev/sda1`, `/dev/sd[a-z]`,
 * `/dev/sd[b-z][1-15]`, `/dev/xvd[a-z]`, `/dev/xvd[a-z][a-z]`.
 * See https://docs.aws.amazon.com/ebs/latest/userguide/device_naming.html
 */
export const deviceNamePattern = /^\/dev\/(?:sd[a-z](?:[1-9]|1[0-5])?|xvd[a-z]{1,2}(?:[1-9]|1[0-5])?)$/;

/** EC2 resource ids: 8 or 17 hex digits after the prefix. */
export const subnetIdPattern = /^subnet-(?:[0-9a-f]{8}|[0-9a-f]{17})$/;
export const securityGroupIdPattern = /^sg-(?:[0-9a-f]{8}|[0-9a-f]{17})$/;
export const instanceIdPattern = /^i-(?:[0-9a-f]{8}|[0-9a-f]{17})$/;
/** Instance types such as `t3.micro`, `m7g.2xlarge`, `u-6tb1.metal`. */
export const instanceTypePattern = /^[a-z][a-z0-9-]*\.[a-z0-9-]+$/;
