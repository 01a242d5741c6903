import { type EC2Client, GetEbsDefaultKmsKeyIdCommand } from '@aws-sdk/client-ec2';
import { DescribeKeyCommand, type KeyMetadata, type KMSClient } from '@aws-sdk/client-kms';
import { PermanentStepError } from '../errors/permanent-step-error.ts';

/**
 * The source default key (the region's EBS default key in the source account), re-checked before it
 * is used: it must be enabled and, for another account, customer managed, because AWS refuses to
 * share snapshots encrypted with the AWS managed key `aws/ebs`
 * (https://repost.aws/knowledge-center/share-snapshot-with-another-account, "Encrypted snapshots
 * with EBS default key cannot be shared").
 */
export async function sourceDefaultKey(
  clients: { ec2: EC2Client; kms: KMSClient },
  options: { mustBeShareable: boolean },
): Promise<KeyMetadata & { Arn: string }> {
  const { KmsKeyId } = await clients.ec2.send(new GetEbsDefaultKmsKeyIdCommand({}));
  if (!KmsKeyId) throw new Error('GetEbsDefaultKmsKeyId returned no key');
  const { KeyMetadata } = await clients.kms.send(new DescribeKeyCommand({ KeyId: KmsKeyId }));
  if (!KeyMetadata?.Arn) throw new Error(`DescribeKey ${KmsKeyId} returned no key metadata`);
  if (options.mustBeShareable && KeyMetadata.KeyManager !== 'CUSTOMER') {
    throw new PermanentStepError(
      `the EBS default key of this region (${KeyMetadata.Arn}) is the AWS managed key aws/ebs: snapshots encrypted with it cannot be shared with another account. ` +
        'Create a customer managed key whose key policy lets the target account use it and make it the default: aws ec2 modify-ebs-default-kms-key-id --kms-key-id <key ARN>',
      { code: 'kms_key_not_shareable', category: 'kms' },
    );
  }
  if (KeyMetadata.KeyState !== 'Enabled') {
    throw new PermanentStepError(
      `the EBS default key ${KeyMetadata.Arn} is ${KeyMetadata.KeyState}; enable it (aws kms enable-key) or set another default key`,
      { code: 'kms_key_unusable', category: 'kms' },
    );
  }
  return { ...KeyMetadata, Arn: KeyMetadata.Arn };
}
