import type { EC2Client } from '@aws-sdk/client-ec2';
import { describe, expect, it } from 'vitest';
import { awsError } from '../test-aws-error.ts';
import { BLOCKS_WRITTEN_TAG, markBlocksWritten } from './snapshot.ts';

// The blocks-written tag of a snapshot EC2 does not know yet, against EC2 answers given here: a narrow
// unit test of a race the emulator draws at random (EBS direct and EC2 each learn of a StartSnapshot
// snapshot after their own moment), so no end-to-end test meets it for sure.

const SNAPSHOT_ID = 'snap-0abc';

const notFound = () =>
  awsError('InvalidSnapshot.NotFound', `The snapshot '${SNAPSHOT_ID}' does not exist.`, 400);

/** An EC2 client answering each CreateTags with `answer(n)` (n from 1), logging what it was asked. */
function ec2Answering(answer: (n: number) => unknown) {
  const tags: unknown[] = [];
  const ec2 = {
    send: async (command: {
      constructor: { name: string };
      input: { Resources: string[]; Tags: unknown[] };
    }) => {
      expect(command.constructor.name).toBe('CreateTagsCommand');
      expect(command.input.Resources).toEqual([SNAPSHOT_ID]);
      tags.push(...command.input.Tags);
      return answer(tags.length);
    },
  } as unknown as EC2Client;
  return { ec2, tags };
}

describe('markBlocksWritten', () => {
  it('tags the snapshot once EC2 knows it: InvalidSnapshot.NotFound counts as not yet', async () => {
    const { ec2, tags } = ec2Answering((n) => {
      if (n < 3) throw notFound();
      return {};
    });
    await markBlocksWritten(ec2, SNAPSHOT_ID, undefined);
    expect(tags).toEqual(Array(3).fill({ Key: BLOCKS_WRITTEN_TAG, Value: 'true' }));
  });

  it('fails the attempt (retryable, not a hang) when EC2 still does not know it after the wait', async () => {
    const { ec2, tags } = ec2Answering(() => {
      throw notFound();
    });
    await expect(markBlocksWritten(ec2, SNAPSHOT_ID, undefined, 300)).rejects.toThrow(
      `EC2 still does not know snapshot ${SNAPSHOT_ID} 0.3 s after its blocks were written; the step will try again`,
    );
    expect(tags.length).toBeGreaterThan(1);
  });

  it('any other refusal is thrown at once, not waited out', async () => {
    const denied = awsError(
      'UnauthorizedOperation',
      'You are not authorized to perform this operation.',
      403,
    );
    const { ec2, tags } = ec2Answering(() => {
      throw denied;
    });
    await expect(markBlocksWritten(ec2, SNAPSHOT_ID, undefined)).rejects.toBe(denied);
    expect(tags).toHaveLength(1);
  });
});
