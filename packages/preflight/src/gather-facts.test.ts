import type { AwsClients } from '@ec2-restore/aws-clients';
import { restoreRequestSchema } from '@ec2-restore/contracts';
import { describe, expect, it, vi } from 'vitest';
import { gatherFactsWith } from './gather-facts.ts';
import type { Gathering } from './gathering.ts';
import {
  REGION,
  RESTORE_ROLE,
  RESTORE_SESSION,
  restorePoint,
  TARGET,
  TARGET_KEY,
  WORKER_SESSION,
} from './test-facts.ts';

/*
 * The order of the pre-flight's reads (which waits for which), with clients that answer on cue: a
 * narrow unit test of the scheduling. What the reads find is tested against the emulator
 * (test/preflight).
 */

type Sent = { principal: 'worker' | 'restore'; command: string };

/** Clients of one principal: every command is recorded; GetCallerIdentity answers when `identity` does. */
function scriptedClients(
  principal: Sent['principal'],
  sent: Sent[],
  identity: Promise<{ Account: string; Arn: string }>,
): AwsClients {
  const client = {
    send: async (command: object) => {
      const name = command.constructor.name.replace(/Command$/, '');
      sent.push({ principal, command: name });
      if (name === 'GetCallerIdentity') return identity;
      if ((command as { input?: { DryRun?: boolean } }).input?.DryRun) {
        throw Object.assign(new Error('Request would have succeeded'), { name: 'DryRunOperation' });
      }
      return {};
    },
  };
  return { sts: client, iam: client, kms: client, ec2: client } as unknown as AwsClients;
}

function gatheringOf(worker: AwsClients, restore: AwsClients): Gathering {
  return {
    workerClients: () => worker,
    restoreRoleClients: () => restore,
    fact: (_label, _key, _kind, load) => load({ abortSignal: new AbortController().signal }),
  };
}

const request = restoreRequestSchema.parse({
  restorePointId: 'rp-1',
  target: { accountId: TARGET, region: REGION, roleArn: RESTORE_ROLE, kmsKeyId: TARGET_KEY },
});

describe('gatherFactsWith: what waits for what', () => {
  it("the restore role's reads and DryRun probes go out before its GetCallerIdentity answers", async () => {
    const sent: Sent[] = [];
    let answerRestoreIdentity = (_: { Account: string; Arn: string }) => {};
    const restoreIdentity = new Promise<{ Account: string; Arn: string }>((resolve) => {
      answerRestoreIdentity = resolve;
    });
    const worker = scriptedClients(
      'worker',
      sent,
      Promise.resolve({ Account: '111111111111', Arn: WORKER_SESSION }),
    );
    const gathering = gatherFactsWith(
      gatheringOf(worker, scriptedClients('restore', sent, restoreIdentity)),
      request,
      restorePoint,
    );
    // Let every read that does not need the restore role's identity go out.
    await new Promise((resolve) => setTimeout(resolve, 50));
    const asRestoreRole = sent.filter((s) => s.principal === 'restore').map((s) => s.command);
    expect(asRestoreRole).toEqual(
      expect.arrayContaining([
        'GetCallerIdentity',
        'GetRole',
        'ListRolePolicies',
        'DescribeKey',
        'DescribeVpcs',
        'DescribeInstanceTypes',
        'RunInstances',
        'CreateVolume',
      ]),
    );

    answerRestoreIdentity({ Account: TARGET, Arn: RESTORE_SESSION });
    const facts = await gathering;
    expect(facts.restoreRole?.principal?.identity.arn).toBe(RESTORE_SESSION);
    expect(facts.restoreRole?.principal?.dryRun?.['ec2:RunInstances']).toEqual({
      outcome: 'allowed',
      code: 'DryRunOperation',
    });
  });

  it('a DryRun probe that names no zone does not wait for DescribeAvailabilityZones', async () => {
    const sent: Sent[] = [];
    const identity = Promise.resolve({ Account: TARGET, Arn: RESTORE_SESSION });
    const restore = scriptedClients('restore', sent, identity);
    let zonesAsked = () => {};
    const asked = new Promise<void>((resolve) => {
      zonesAsked = resolve;
    });
    const ec2Send = restore.ec2.send.bind(restore.ec2);
    // DescribeAvailabilityZones never answers; the probes that need no zone still go out.
    (restore.ec2 as unknown as { send: (command: object) => Promise<unknown> }).send = (command) => {
      if (command.constructor.name !== 'DescribeAvailabilityZonesCommand') return ec2Send(command as never);
      zonesAsked();
      return new Promise(() => {});
    };
    void gatherFactsWith(
      gatheringOf(
        scriptedClients('worker', [], Promise.resolve({ Account: '111111111111', Arn: WORKER_SESSION })),
        restore,
      ),
      request,
      restorePoint,
    );
    await asked;
    await new Promise((resolve) => setTimeout(resolve, 50));
    const probes = sent.filter((s) =>
      ['RunInstances', 'RegisterImage', 'CopySnapshot', 'CreateVolume'].includes(s.command),
    );
    expect(probes.map((s) => s.command).sort()).toEqual(['CopySnapshot', 'RegisterImage', 'RunInstances']);
  });

  it("the source default key's reads start once EC2 names it, not after GetEbsEncryptionByDefault answers too", async () => {
    const sent: Sent[] = [];
    const worker = scriptedClients(
      'worker',
      sent,
      Promise.resolve({ Account: '111111111111', Arn: WORKER_SESSION }),
    );
    const ec2Send = worker.ec2.send.bind(worker.ec2);
    // GetEbsEncryptionByDefault never answers.
    (worker.ec2 as unknown as { send: (command: object) => Promise<unknown> }).send = (command) =>
      command.constructor.name === 'GetEbsEncryptionByDefaultCommand'
        ? new Promise(() => {})
        : ec2Send(command as never);
    const identity = Promise.resolve({ Account: TARGET, Arn: RESTORE_SESSION });
    void gatherFactsWith(
      gatheringOf(worker, scriptedClients('restore', [], identity)),
      request,
      restorePoint,
    );
    await new Promise((resolve) => setTimeout(resolve, 50));
    const asWorker = sent.filter((s) => s.principal === 'worker').map((s) => s.command);
    expect(asWorker).toEqual(expect.arrayContaining(['GetEbsDefaultKmsKeyId', 'DescribeKey']));
  });

  it("a DryRun that does not answer within the session's dryRunWaitMs leaves the plan to the IAM policies", async () => {
    const identity = Promise.resolve({ Account: TARGET, Arn: RESTORE_SESSION });
    const restore = scriptedClients('restore', [], identity);
    const ec2Send = restore.ec2.send.bind(restore.ec2);
    // RunInstances with DryRun never answers; the other probes do.
    (restore.ec2 as unknown as { send: (command: object) => Promise<unknown> }).send = (command) =>
      command.constructor.name === 'RunInstancesCommand' ? new Promise(() => {}) : ec2Send(command as never);
    const worker = scriptedClients(
      'worker',
      [],
      Promise.resolve({ Account: '111111111111', Arn: WORKER_SESSION }),
    );
    vi.useFakeTimers();
    try {
      let facts: Awaited<ReturnType<typeof gatherFactsWith>> | undefined;
      void gatherFactsWith({ ...gatheringOf(worker, restore), dryRunWaitMs: 20 }, request, restorePoint).then(
        (gathered) => {
          facts = gathered;
        },
      );
      // 20 ms on the clock: the gathering is done (the product's default would still wait 4 s).
      await vi.advanceTimersByTimeAsync(20);
      expect(facts?.restoreRole?.principal?.identity.arn).toBe(RESTORE_SESSION);
      expect(facts?.restoreRole?.principal?.dryRun).toBeUndefined();
      expect(Object.keys(facts?.worker.principal?.dryRun ?? {})).not.toEqual([]);
    } finally {
      vi.useRealTimers();
    }
  });
});
