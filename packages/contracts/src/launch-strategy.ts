/**
 * How the restored instance is launched (docs/architecture.md#launch-strategies), decided from the
 * restore point alone, so the pre-flight plan and the instance step always agree:
 *
 * - `register-image`: an image registered from the restored root snapshot with the recorded boot
 *   mode, ENA and IMDS settings; the instance boots its own root volume from the first start.
 * - `launch-and-swap`: an Amazon base image of the same platform, boot mode, architecture and
 *   billing (AWS's public SSM parameters), whose root volume is swapped for the restored one while
 *   the instance is stopped. Licensed platforms need it: "Creating an AMI from an EBS snapshot does
 *   not maintain this billing code"
 *   (https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/creating-an-ami-ebs.html).
 */
import { z } from 'zod';
import type { RestorePointInstance } from './restore-point.ts';

export const launchStrategySchema = z.enum(['register-image', 'launch-and-swap']);
export type LaunchStrategy = z.infer<typeof launchStrategySchema>;

/** What a request may ask for; `auto` (the default) lets the restore point decide. */
export const launchStrategyRequestSchema = z.enum(['auto', 'register-image', 'launch-and-swap'], {
  error: 'expected "auto", "register-image" or "launch-and-swap"',
});
export type LaunchStrategyRequest = z.infer<typeof launchStrategyRequestSchema>;

/** The usage operation of unlicensed Linux/UNIX (billing-info-fields.html). */
export const UNLICENSED_USAGE_OPERATION = 'RunInstances';

/** The attributes the choice reads. */
export type LaunchAttributes = Pick<RestorePointInstance, 'platform' | 'billing'> &
  Partial<Pick<RestorePointInstance, 'bootMode' | 'architecture'>>;

/**
 * Why the restore point's instance is licensed (Windows, SQL Server, RHEL, SUSE, a billing product
 * code), or null for plain Linux/UNIX.
 */
export function licenceOf(instance: Partial<LaunchAttributes>): string | null {
  const billing = instance.billing;
  if (billing?.billingProducts && billing.billingProducts.length > 0) {
    return `billing product codes ${billing.billingProducts.join(', ')}`;
  }
  if (billing?.usageOperation && billing.usageOperation !== UNLICENSED_USAGE_OPERATION) {
    return `${billing.platformDetails ?? 'licensed'} (${billing.usageOperation})`;
  }
  if (billing?.platformDetails && billing.platformDetails !== 'Linux/UNIX') return billing.platformDetails;
  if (instance.platform === 'windows') return 'Windows';
  return null;
}

export interface LaunchChoice {
  strategy: LaunchStrategy;
  /** Why, for a person (the plan shows it). */
  reason: string;
  /** Set when the request asked for a strategy that cannot keep the restore point's licence. */
  refused?: string;
}

/** The launch strategy of a restore: the requested one where it can work, else the restore point's. */
export function chooseLaunchStrategy(
  instance: Partial<LaunchAttributes>,
  requested: LaunchStrategyRequest = 'auto',
): LaunchChoice {
  const licence = licenceOf(instance);
  if (licence !== null) {
    const reason = `the restore point is billed as ${licence}: an image registered from a snapshot loses the billing code, so the instance is launched from an Amazon base image of the same billing and its root volume swapped`;
    if (requested === 'register-image') {
      return {
        strategy: 'launch-and-swap',
        reason,
        refused: `instance.launchStrategy register-image cannot keep the licence of ${licence}; use launch-and-swap or leave it out`,
      };
    }
    return { strategy: 'launch-and-swap', reason };
  }
  if (requested === 'launch-and-swap') {
    return {
      strategy: 'launch-and-swap',
      reason:
        'asked for by the request (instance.launchStrategy): an Amazon Linux base image of the same boot mode and architecture, its root volume swapped',
    };
  }
  return {
    strategy: 'register-image',
    reason:
      'Linux/UNIX without a paid billing code: an image is registered from the restored root snapshot with the recorded boot mode, ENA and IMDS settings',
  };
}
