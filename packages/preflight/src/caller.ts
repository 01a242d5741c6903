import { parseArn } from '@ec2-restore/contracts';
import type { Caller } from './policy-types.ts';

/** A caller ARN understood: its account and, for roles, the role it belongs to. */
export interface ParsedCaller {
  arn: string;
  partition: string;
  accountId: string;
  kind: 'root' | 'user' | 'role' | 'assumed-role' | 'other';
  /** `aws:PrincipalArn`: the role ARN for a role session, else the caller ARN. */
  principalArn: string;
  roleName?: string;
}

/**
 * Understands a caller ARN. For a role session `arn:aws:sts::A:assumed-role/Name/Session`, the
 * principal ARN is the role's (`arn:aws:iam::A:role/Name`), as in `aws:PrincipalArn`.
 * See https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html#condition-keys-principalarn
 */
export function parseCaller(caller: Caller): ParsedCaller {
  const parsed = parseArn(caller.arn);
  if (!parsed.ok) {
    return { arn: caller.arn, partition: 'aws', accountId: '', kind: 'other', principalArn: caller.arn };
  }
  const { partition, accountId, resource, service } = parsed.arn;
  const base = { arn: caller.arn, partition, accountId };
  if (service === 'iam' && resource === 'root') return { ...base, kind: 'root', principalArn: caller.arn };
  if (service === 'iam' && resource.startsWith('user/'))
    return { ...base, kind: 'user', principalArn: caller.arn };
  if (service === 'iam' && resource.startsWith('role/')) {
    const roleName = resource.split('/').at(-1) ?? '';
    return { ...base, kind: 'role', principalArn: caller.roleArn ?? caller.arn, roleName };
  }
  if (service === 'sts' && resource.startsWith('assumed-role/')) {
    const roleName = resource.split('/')[1] ?? '';
    const roleArn = caller.roleArn ?? `arn:${partition}:iam::${accountId}:role/${roleName}`;
    return { ...base, kind: 'assumed-role', principalArn: roleArn, roleName };
  }
  return { ...base, kind: 'other', principalArn: caller.arn };
}

/** The account id of an ARN, or of a bare 12-digit id; undefined when it has none. */
export function accountOfArn(value: string): string | undefined {
  if (/^\d{12}$/.test(value)) return value;
  const parsed = parseArn(value);
  return parsed.ok && parsed.arn.accountId !== '' ? parsed.arn.accountId : undefined;
}
