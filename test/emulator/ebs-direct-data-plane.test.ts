import { randomBytes, randomUUID } from 'node:crypto';
import { GetSnapshotBlockCommand, ListSnapshotBlocksCommand } from '@aws-sdk/client-ebs';
import { DeleteSnapshotCommand } from '@aws-sdk/client-ec2';
import { GetCallerIdentityCommand } from '@aws-sdk/client-sts';
import { describe, expect, it } from 'vitest';
import {
  type Account,
  assumedRoleClients,
  completeSnapshot,
  createRestoreRole,
  expectAwsError,
  newAccount,
  putBlock,
  putRolePolicy,
  readBlock,
  startVisibleSnapshot,
} from '../support/index.ts';

// The EBS direct data plane (PutSnapshotBlock, GetSnapshotBlock, ListSnapshotBlocks), which the
// emulator serves ahead of moto's generic request handling: the same rules as every other request.
// https://docs.aws.amazon.com/ebs/latest/APIReference/API_PutSnapshotBlock.html,
// https://docs.aws.amazon.com/ebs/latest/APIReference/API_GetSnapshotBlock.html,
// https://docs.aws.amazon.com/ebs/latest/APIReference/API_ListSnapshotBlocks.html

const BLOCK_SIZE = 524288;

async function read(clients: Account['aws'], snapshotId: string, index: number): Promise<Buffer> {
  return (await readBlock(clients.ebs, snapshotId, index)).data;
}

function start(account: Account): Promise<string> {
  return startVisibleSnapshot(account.aws.ebs, { VolumeSize: 1 });
}

describe('EBS direct data plane', () => {
  it('a block overwritten, a block shared by two snapshots, and a deleted snapshot: every read is right', async () => {
    const account = newAccount();
    const [first, second] = [await start(account), await start(account)];
    const shared = randomBytes(BLOCK_SIZE);
    const replaced = randomBytes(BLOCK_SIZE);
    await putBlock(account.aws.ebs, first, 0, shared);
    await putBlock(account.aws.ebs, second, 5, shared);
    // "If the specified block contains data, the existing data is overwritten."
    await putBlock(account.aws.ebs, first, 1, replaced);
    const newer = randomBytes(BLOCK_SIZE);
    await putBlock(account.aws.ebs, first, 1, newer);
    await completeSnapshot(account.aws, first, 2);
    await completeSnapshot(account.aws, second, 1);
    expect((await read(account.aws, first, 1)).equals(newer)).toBe(true);

    // Deleting one snapshot (EC2 DeleteSnapshot) deletes its EBS direct view, not the other's blocks.
    await account.aws.ec2.send(new DeleteSnapshotCommand({ SnapshotId: first }));
    await expectAwsError(
      account.aws.ebs.send(new ListSnapshotBlocksCommand({ SnapshotId: first })),
      'ResourceNotFoundException',
      `The snapshot '${first}' does not exist.`,
    );
    expect((await read(account.aws, second, 5)).equals(shared)).toBe(true);
  });

  it('PutSnapshotBlock refuses a block that is not 524288 bytes (ValidationException)', async () => {
    const account = newAccount();
    const snapshotId = await start(account);
    const error = await expectAwsError(
      putBlock(account.aws.ebs, snapshotId, 0, randomBytes(4096)),
      'ValidationException',
      /524288 bytes/,
    );
    expect(error.$metadata?.httpStatusCode).toBe(400);
  });

  it('a role session needs ebs:PutSnapshotBlock, ebs:ListSnapshotBlocks and ebs:GetSnapshotBlock (AccessDeniedException, HTTP 403)', async () => {
    const account = newAccount();
    const snapshotId = await start(account);
    const data = randomBytes(BLOCK_SIZE);
    await putBlock(account.aws.ebs, snapshotId, 2, data);
    const externalId = randomUUID();
    const roleArn = await createRestoreRole(account, account.id, externalId, null);
    const session = assumedRoleClients(account, roleArn, externalId);
    const sessionArn = (await session.sts.send(new GetCallerIdentityCommand({}))).Arn!;
    const resource = `arn:aws:ec2:eu-west-1::snapshot/${snapshotId}`;
    const denied = (action: string) =>
      `User: ${sessionArn} is not authorized to perform: ebs:${action} on resource: ${resource} because no identity-based policy allows the ebs:${action} action`;

    const refused = await expectAwsError(
      putBlock(session.ebs, snapshotId, 3, data),
      'AccessDeniedException',
      denied('PutSnapshotBlock'),
    );
    expect(refused.$metadata?.httpStatusCode).toBe(403);
    await expectAwsError(
      session.ebs.send(new ListSnapshotBlocksCommand({ SnapshotId: snapshotId })),
      'AccessDeniedException',
      denied('ListSnapshotBlocks'),
    );

    await putRolePolicy(
      account,
      roleArn.split('/').at(-1)!,
      JSON.stringify({
        Version: '2012-10-17',
        Statement: [
          {
            Effect: 'Allow',
            Action: ['ebs:PutSnapshotBlock', 'ebs:ListSnapshotBlocks'],
            Resource: 'arn:aws:ec2:*::snapshot/*',
          },
        ],
      }),
    );
    await putBlock(session.ebs, snapshotId, 3, data);
    await completeSnapshot(account.aws, snapshotId, 2);
    const listed = await session.ebs.send(new ListSnapshotBlocksCommand({ SnapshotId: snapshotId }));
    expect(listed.Blocks!.map((b) => b.BlockIndex)).toEqual([2, 3]);
    await expectAwsError(
      session.ebs.send(
        new GetSnapshotBlockCommand({
          SnapshotId: snapshotId,
          BlockIndex: 3,
          BlockToken: listed.Blocks![1]!.BlockToken!,
        }),
      ),
      'AccessDeniedException',
      denied('GetSnapshotBlock'),
    );
  });
});
