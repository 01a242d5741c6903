import { GetEbsDefaultKmsKeyIdCommand, GetEbsEncryptionByDefaultCommand } from '@aws-sdk/client-ec2';
import { DescribeKeyCommand, GetKeyPolicyCommand, ListGrantsCommand } from '@aws-sdk/client-kms';
import type { AwsClients } from '@ec2-restore/aws-clients';
import type { EbsDefaultKeyFacts, KeyFacts } from './facts.ts';
import { attempt, type Gathering, type Http, type Scope } from './gathering.ts';
import type { KmsGrant, PolicyDocument } from './policy-types.ts';

/* The KMS keys of a restore: the target key, and the source account's EBS default key and its settings. */

/** DescribeKey, then GetKeyPolicy and ListGrants of one key, as the clients' principal sees it. */
export async function keyFacts(
  g: Gathering,
  scope: Scope,
  clients: AwsClients,
  keyId: string,
): Promise<KeyFacts> {
  return g.fact(
    `KMS key ${keyId} (${scope.name})`,
    `key|${scope.key}|${keyId}`,
    'changing',
    (http) => gatherKeyFacts(clients, keyId, http),
    // Only a key that is fully readable and enabled is kept: a person fixing it sees the fix at once.
    (facts) => facts.metadata?.keyState === 'Enabled' && facts.policy !== undefined,
  );
}

/** DescribeKey, GetKeyPolicy and ListGrants of one key, as the clients' principal sees it. */
export async function gatherKeyFacts(
  clients: AwsClients,
  keyId: string,
  http: Http = { abortSignal: AbortSignal.timeout(10_000) },
): Promise<KeyFacts> {
  const facts: KeyFacts = { requested: keyId };
  const described = await attempt(() => clients.kms.send(new DescribeKeyCommand({ KeyId: keyId }), http));
  if (!described.ok) return { ...facts, describeError: described.error };
  const m = described.value.KeyMetadata;
  const arn = m?.Arn ?? keyId;
  facts.metadata = {
    arn,
    keyId: m?.KeyId ?? '',
    accountId: m?.AWSAccountId ?? arn.split(':')[4] ?? '',
    region: arn.split(':')[3] ?? '',
    keyState: m?.KeyState ?? 'Unavailable',
    keyManager: m?.KeyManager === 'AWS' ? 'AWS' : 'CUSTOMER',
    keySpec: m?.KeySpec ?? 'SYMMETRIC_DEFAULT',
    keyUsage: m?.KeyUsage ?? 'ENCRYPT_DECRYPT',
    multiRegion: m?.MultiRegion ?? false,
    ...(m?.MultiRegionConfiguration?.MultiRegionKeyType
      ? { multiRegionKeyType: m.MultiRegionConfiguration.MultiRegionKeyType }
      : {}),
    ...(m?.DeletionDate ? { deletionDate: m.DeletionDate.toISOString() } : {}),
  };
  const [policy, grants] = await Promise.all([
    attempt(() => clients.kms.send(new GetKeyPolicyCommand({ KeyId: arn, PolicyName: 'default' }), http)),
    attempt(() => clients.kms.send(new ListGrantsCommand({ KeyId: arn }), http)),
  ]);
  if (policy.ok) facts.policy = JSON.parse(policy.value.Policy ?? '{"Statement":[]}') as PolicyDocument;
  else facts.policyError = policy.error;
  if (grants.ok) {
    facts.grants = (grants.value.Grants ?? []).map(
      (g): KmsGrant => ({
        ...(g.GrantId ? { grantId: g.GrantId } : {}),
        granteePrincipal: g.GranteePrincipal ?? '',
        operations: g.Operations ?? [],
      }),
    );
  }
  return facts;
}

export async function gatherSourceDefaultKey(
  g: Gathering,
  scope: Scope,
  clients: AwsClients,
  region: string,
): Promise<EbsDefaultKeyFacts> {
  // Two facts, so the default key's own reads start as soon as EC2 names it.
  const setting = <T>(label: string, key: string, read: (http: Http) => Promise<T>) =>
    g.fact(
      `EC2 ${label} (${scope.name})`,
      `${key}|${scope.key}`,
      'changing',
      (http) => attempt(() => read(http)),
      (answer) => answer.ok,
    );
  const [byDefault, defaultKey] = await Promise.all([
    setting('EBS encryption by default', 'ebs-encryption-by-default', (http) =>
      clients.ec2.send(new GetEbsEncryptionByDefaultCommand({}), http),
    ),
    setting('EBS default KMS key', 'ebs-default-key', (http) =>
      clients.ec2.send(new GetEbsDefaultKmsKeyIdCommand({}), http),
    ).then(async (answer) => {
      if (!answer.ok) return answer;
      // GetEbsDefaultKmsKeyId answers alias/aws/ebs or a key ARN: https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_GetEbsDefaultKmsKeyId.html
      const keyId = answer.value.KmsKeyId ?? 'alias/aws/ebs';
      return { ok: true as const, keyId, key: await keyFacts(g, scope, clients, keyId) };
    }),
  ]);
  const facts: EbsDefaultKeyFacts = { region };
  if (byDefault.ok) facts.encryptionByDefault = byDefault.value.EbsEncryptionByDefault ?? false;
  if (!defaultKey.ok) return { ...facts, error: defaultKey.error };
  facts.defaultKmsKeyId = defaultKey.keyId;
  facts.key = defaultKey.key;
  return facts;
}
