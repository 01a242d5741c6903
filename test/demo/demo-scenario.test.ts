import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetEbsDefaultKmsKeyIdCommand } from '@aws-sdk/client-ec2';
import { DescribeKeyCommand } from '@aws-sdk/client-kms';
import { GetCallerIdentityCommand } from '@aws-sdk/client-sts';
import { assumeRoleCredentials, createAwsClients } from '@ec2-restore/aws-clients';
import { openBackupRepository } from '@ec2-restore/backup-repository';
import { createDemoRestorePoint, DEMO_VOLUMES, demoBlockData, seedDemoScenario } from '@ec2-restore/demo';
import { credentialsForAccount, randomAccountId } from '@ec2-restore/local-aws';
import { afterAll, describe, expect, it } from 'vitest';

const region = 'eu-west-1';
const folders: string[] = [];
afterAll(() => {
  for (const folder of folders) rmSync(folder, { recursive: true, force: true });
});

describe('demo scenario', () => {
  it('seeds two accounts a cross-account restore can use, twice without duplicates', async () => {
    const sourceAccountId = randomAccountId();
    const targetAccountId = randomAccountId();
    const options = {
      region,
      sourceAccountId,
      targetAccountId,
      sourceCredentials: credentialsForAccount(sourceAccountId),
      targetCredentials: credentialsForAccount(targetAccountId),
    };
    const scenario = await seedDemoScenario(options);
    const again = await seedDemoScenario(options);
    expect(again.target.kmsKeyArn).toBe(scenario.target.kmsKeyArn);
    expect(again.source.defaultKeyArn).toBe(scenario.source.defaultKeyArn);
    expect(again.target.subnetId).toBe(scenario.target.subnetId);

    const source = createAwsClients({ region, credentials: options.sourceCredentials });
    const defaultKey = await source.ec2.send(new GetEbsDefaultKmsKeyIdCommand({}));
    expect(defaultKey.KmsKeyId).toBe(scenario.source.defaultKeyArn);
    const described = await source.kms.send(new DescribeKeyCommand({ KeyId: scenario.source.defaultKeyArn }));
    expect(described.KeyMetadata?.KeyManager).toBe('CUSTOMER');

    // The source account assumes the restore role (with the ExternalId); as that role it may use both keys.
    const restoreRole = createAwsClients({
      region,
      credentials: assumeRoleCredentials({
        region,
        roleArn: scenario.target.roleArn,
        externalId: scenario.target.externalId,
        sessionName: 'demo-test',
        sourceCredentials: options.sourceCredentials,
      }),
    });
    const identity = await restoreRole.sts.send(new GetCallerIdentityCommand({}));
    expect(identity.Account).toBe(targetAccountId);
    for (const keyArn of [scenario.target.kmsKeyArn, scenario.source.defaultKeyArn]) {
      const key = await restoreRole.kms.send(new DescribeKeyCommand({ KeyId: keyArn }));
      expect(key.KeyMetadata?.Arn).toBe(keyArn);
    }

    // Without the ExternalId the trust policy refuses.
    const noExternalId = createAwsClients({
      region,
      credentials: assumeRoleCredentials({
        region,
        roleArn: scenario.target.roleArn,
        sessionName: 'demo-test',
        sourceCredentials: options.sourceCredentials,
      }),
    });
    await expect(noExternalId.sts.send(new GetCallerIdentityCommand({}))).rejects.toThrow(/sts:AssumeRole/);
    for (const clients of [source, restoreRole, noExternalId]) clients.destroy();
  });

  it('writes a demo restore point whose blocks read back as generated', async () => {
    const folder = mkdtempSync(join(tmpdir(), 'demo-repo-'));
    folders.push(folder);
    const repository = openBackupRepository(folder);
    const { id, seed } = await createDemoRestorePoint(repository);
    const [summary] = await repository.listRestorePoints();
    expect(summary?.id).toBe(id);
    const volume = DEMO_VOLUMES[1]!;
    const reader = await repository.openVolume(id, volume.deviceName);
    const buffer = Buffer.alloc(512 * 1024);
    const dataBlocks: number[] = [];
    for await (const ref of reader.blocks()) {
      if (ref.sha256 === null) continue;
      dataBlocks.push(ref.index);
      const data = await reader.readBlock({ ...ref, sha256: ref.sha256 }, buffer);
      expect(data.equals(demoBlockData(seed, volume.deviceName, ref.index))).toBe(true);
    }
    expect(dataBlocks).toEqual(volume.dataBlocks);
  });
});
