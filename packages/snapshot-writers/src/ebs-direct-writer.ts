import { setTimeout as sleep } from 'node:timers/promises';
import {
  CompleteSnapshotCommand,
  type EBSClient,
  type PutSnapshotBlockCommand,
  StartSnapshotCommand,
  type Tag,
} from '@aws-sdk/client-ebs';
import { DescribeSnapshotsCommand, type EC2Client } from '@aws-sdk/client-ec2';
import {
  type BackupRepository,
  BackupRepositoryError,
  BLOCK_SIZE,
  type BlockRef,
  runPool,
  ZERO_BLOCK,
} from '@ec2-restore/backup-repository';
import { clientTokenFor, RestoreTag } from '@ec2-restore/contracts';
import { withAbortScope } from './abort-scope.ts';
import { BlockWriteError, type BlockWriteLocation } from './block-write-error.ts';
import { BufferPool } from './buffer-pool.ts';
import { CallSpacing, DEFAULT_PUTS_PER_SECOND } from './call-spacing.ts';
import { LinearChecksum, ZERO_BLOCK_SHA256 } from './linear-checksum.ts';
import { DEFAULT_RETRY_POLICY, type RetryPolicy, withRetries } from './retry-policy.ts';
import { SnapshotBlockSender } from './snapshot-block-sender.ts';
import type { SnapshotWriter, WriteVolumeRequest } from './snapshot-writer.ts';

export interface EbsDirectTarget {
  /** The restore this write belongs to: part of the ClientToken and tagged on the snapshot. */
  restoreId: string;
  /** Step name for the ClientToken and the step tag. @defaultValue 'snapshot' */
  step?: string;
  /** The key the snapshot is encrypted with (a key ARN; EBS direct wants the ARN). */
  kmsKeyArn: string;
  /** Extra tags for the snapshot. */
  tags?: Record<string, string>;
  description?: string;
  /**
   * Called once every block is written, before CompleteSnapshot: a caller that may be interrupted
   * marks the snapshot here, so that a later attempt does not rewrite a snapshot that may be sealed.
   */
  onBlocksWritten?: (snapshotId: string) => Promise<void>;
  /**
   * Called once StartSnapshot answered a snapshot to write, while its blocks are written (not awaited
   * before the first block). Its failure fails the write once the blocks are written, before
   * onBlocksWritten and CompleteSnapshot; a write that fails first ignores it.
   */
  onStarted?: (snapshotId: string) => Promise<void>;
  /** Every block was written by an earlier attempt (see onBlocksWritten): only CompleteSnapshot is sent. */
  blocksWritten?: boolean;
  /**
   * Minutes after which AWS cancels the snapshot if it is not completed (StartSnapshot Timeout, 10-4320).
   * @defaultValue 60
   */
  timeoutMinutes?: number;
}

export interface EbsDirectResult {
  snapshotId: string;
  /** The key ARN EC2 reports for the completed snapshot. */
  kmsKeyId: string;
  sizeGiB: number;
  bytesWritten: number;
  blocksWritten: number;
}

export interface EbsDirectWriterOptions {
  repository: BackupRepository;
  /**
   * EBS client from createAwsClients (built with ebsMaxAttempts 1: the writer retries each block itself).
   * PutSnapshotBlock goes through SnapshotBlockSender with this client's signer and endpoint.
   */
  ebs: EBSClient;
  ec2: EC2Client;
  /**
   * PutSnapshotBlock calls in flight. AWS allows about 1,000 per second per snapshot; with ~100 ms per call
   * 128 in flight reach ~640 MiB/s. Memory: `blockBuffers` x 512 KiB.
   * @defaultValue 64
   */
  inFlight?: number;
  /**
   * Block buffers (512 KiB each). A buffer is held while a block is read and sent, not while EBS
   * answers, so far fewer than `inFlight` keep every call busy.
   * @defaultValue 8 (at most `inFlight`)
   */
  blockBuffers?: number;
  /**
   * PutSnapshotBlock requests per second for one snapshot, retries included (see call-spacing.ts); 0: as
   * fast as the calls in flight allow. @defaultValue 950 (AWS's quota is 1,000)
   */
  putsPerSecond?: number;
  retryPolicy?: RetryPolicy;
  /** How long to wait for EC2 to report the snapshot `completed`. @defaultValue 1800000 (30 min) */
  completionTimeoutMs?: number;
  /**
   * Wait for EC2 to report the snapshot `completed` before returning. A queued step sets false and
   * waits in the queue instead (the result's kmsKeyId is then empty).
   * @defaultValue true
   */
  awaitCompletion?: boolean;
  /** @defaultValue 2000 */
  completionPollMs?: number;
  /**
   * Socket inactivity timeout of each PutSnapshotBlock call; a call that times out is retried.
   * @defaultValue 30000
   */
  requestTimeoutMs?: number;
}

const ZERO_BLOCK_CHECKSUM = ZERO_BLOCK_SHA256.toString('base64');

export function withUnsignedPayload(command: PutSnapshotBlockCommand): PutSnapshotBlockCommand {
  command.middlewareStack.add(
    (next) => async (args) => {
      const request = args.request as { headers?: Record<string, string> };
      if (request.headers) request.headers['x-amz-content-sha256'] = 'UNSIGNED-PAYLOAD';
      return next(args);
    },
    { step: 'build', name: 'ec2RestoreUnsignedPayload' },
  );
  return command;
}

function isValidationError(error: unknown): boolean {
  return (error as { name?: string } | undefined)?.name === 'ValidationException';
}

/**
 * A block's write failed for good: AWS's error, named with the snapshot and block (BlockWriteError). An
 * abort, and a restore point's own error (which names the block already), pass unchanged.
 */
function namedBlockError(error: unknown, where: BlockWriteLocation, signal?: AbortSignal): unknown {
  if (signal?.aborted || error instanceof BackupRepositoryError) return error;
  if ((error as { name?: string } | undefined)?.name === 'AbortError') return error;
  return new BlockWriteError(error, where);
}

export class SnapshotFailedError extends Error {
  constructor(
    readonly snapshotId: string,
    message: string,
  ) {
    super(message);
    this.name = 'SnapshotFailedError';
  }
}

/**
 * Writes a volume of a restore point straight into a new encrypted EBS snapshot with the EBS direct APIs
 * (StartSnapshot, PutSnapshotBlock, CompleteSnapshot), then waits until EC2 reports it `completed`.
 */
export class EbsDirectWriter implements SnapshotWriter<EbsDirectTarget, EbsDirectResult> {
  readonly kind = 'ebs-direct' as const;
  private readonly inFlight: number;
  private readonly policy: RetryPolicy;
  private readonly blockBuffers: number;

  constructor(private readonly options: EbsDirectWriterOptions) {
    this.inFlight = options.inFlight ?? 64;
    this.policy = options.retryPolicy ?? DEFAULT_RETRY_POLICY;
    this.blockBuffers = options.blockBuffers ?? 8;
    if (!Number.isInteger(this.inFlight) || this.inFlight < 1) {
      throw new RangeError(`inFlight must be a positive integer, got ${options.inFlight}`);
    }
  }

  async writeVolume(request: WriteVolumeRequest<EbsDirectTarget>): Promise<EbsDirectResult> {
    // Every call in flight listens on the signal it is given: they listen on a scope of this write, which
    // holds one listener on the caller's signal and drops it when the write ends.
    return withAbortScope(request.signal, this.inFlight, (signal) => this.write({ ...request, signal }));
  }

  private async write(request: WriteVolumeRequest<EbsDirectTarget>): Promise<EbsDirectResult> {
    const { repository, ebs } = this.options;
    const { target, signal } = request;
    const step = target.step ?? 'snapshot';
    const reader = await repository.openVolume(request.restorePointId, request.deviceName);
    const volume = reader.volume;
    const writesBlocks = !target.blocksWritten;
    // The block path is set up while the block list is checked and StartSnapshot is in flight, not
    // after StartSnapshot's answer: the repository's reader (a folder repository's reader thread takes
    // tens of milliseconds to start), the block buffers and the sender (endpoint, signer, credentials).
    if (writesBlocks) reader.prepareReads();

    // First pass over the block list: checks it end to end (so a corrupt list fails before anything is
    // created) and yields the aggregated checksum. Every block is written, so every block counts.
    const aggregate = new LinearChecksum();
    await reader.checkBlockList((ref) => aggregate.add(ref.sha256));
    const checksum = aggregate.digestBase64();

    const tags: Tag[] = [
      { Key: RestoreTag.RestoreId, Value: target.restoreId },
      { Key: RestoreTag.Step, Value: step },
      { Key: RestoreTag.Device, Value: request.deviceName },
      ...Object.entries(target.tags ?? {}).map(([Key, Value]) => ({ Key, Value })),
    ];
    // A buffer is held while its block is read, checked and handed to the socket, not while EBS
    // answers: a few buffers keep many calls in flight, and memory stays small at 128 in flight.
    // One byte over a block: a folder repository then reads a block, and sees that it ends, in one call.
    const buffers = new BufferPool(Math.min(this.inFlight, this.blockBuffers), BLOCK_SIZE + 1);
    const senderReady = SnapshotBlockSender.forClient(ebs, {
      sockets: this.inFlight,
      ...(this.options.requestTimeoutMs ? { requestTimeoutMs: this.options.requestTimeoutMs } : {}),
    });
    // Awaited below; a failure while StartSnapshot is still running is not an unhandled rejection.
    senderReady.catch(() => {});
    const closeSender = (): void => {
      senderReady.then(
        (sender) => sender.close(),
        () => {},
      );
    };
    const started = await withRetries(
      () =>
        ebs.send(
          new StartSnapshotCommand({
            VolumeSize: volume.sizeGiB,
            // Every block is written, zeros too: an unwritten block of an encrypted snapshot does not read
            // back as zeros. https://docs.aws.amazon.com/ebs/latest/userguide/ebsapis-using-encryption.html
            Encrypted: true,
            KmsKeyArn: target.kmsKeyArn,
            // Same restore, step and device: the same token, so a retried job gets the same snapshot back.
            ClientToken: clientTokenFor(target.restoreId, step, request.deviceName, 'start-snapshot'),
            Tags: tags,
            Description: target.description ?? `ec2-restore ${target.restoreId} ${request.deviceName}`,
            Timeout: target.timeoutMinutes ?? 60,
          }),
          { abortSignal: signal },
        ),
      { policy: this.policy, ...(signal ? { signal } : {}) },
    ).catch((error: unknown) => {
      closeSender();
      throw error;
    });
    const snapshotId = started.SnapshotId!;
    const startedAt = Date.now();
    const totalBytes = volume.blockCount * BLOCK_SIZE;

    if (started.Status === 'completed' || started.Status === 'error') closeSender();
    if (started.Status === 'completed') {
      // A previous attempt with this ClientToken already finished the snapshot.
      request.onProgress?.(totalBytes);
      return this.finish(snapshotId, volume.sizeGiB, totalBytes, volume.blockCount, signal);
    }
    if (started.Status === 'error') {
      throw new SnapshotFailedError(
        snapshotId,
        `Snapshot ${snapshotId} is in state error; start the restore again.`,
      );
    }

    // -0, not 0: a double from the start. The count passes V8's small integers (2^30) at 1 GiB, where
    // the JIT would otherwise drop the pool's compiled code mid-write and compile it again.
    let bytesDone = writesBlocks ? -0 : totalBytes;
    // Runs alongside the writes; awaited after them (a write that fails first leaves it unobserved).
    const startedHook = target.onStarted?.(snapshotId);
    startedHook?.catch(() => {});
    const sender = await senderReady;
    const putBlock = (ref: BlockRef): Promise<void> => {
      const block = { snapshotId, blockIndex: ref.index };
      if (ref.sha256 === null) {
        return sender.put({ ...block, data: ZERO_BLOCK, checksumBase64: ZERO_BLOCK_CHECKSUM }, signal);
      }
      const stored = { index: ref.index, sha256: ref.sha256 };
      // The block list's SHA-256 of the block is exactly the checksum PutSnapshotBlock wants (base64), and
      // EBS checks the body against it ("If the checksums do not correspond, the request fails":
      // https://docs.aws.amazon.com/ebs/latest/userguide/ebsapis-using-checksums.html), so the bytes are
      // not hashed here as well. A retry reads the block again.
      const checksumBase64 = Buffer.from(stored.sha256, 'hex').toString('base64');
      return buffers
        .with(async (buffer, release) => {
          const data = await reader.readBlockUnhashed(stored, buffer);
          await sender.put({ ...block, data, checksumBase64 }, signal, release);
        })
        .catch(async (error: unknown) => {
          // EBS refused the block (ValidationException, whatever its Reason): hashed here, a block that
          // does not match the block list is a corrupt restore point (BlockIntegrityError, not retried);
          // one that matches leaves EBS's error as it is.
          if (isValidationError(error)) await buffers.with((buffer) => reader.readBlock(stored, buffer));
          throw error;
        });
    };
    const spacing = new CallSpacing(this.options.putsPerSecond ?? DEFAULT_PUTS_PER_SECOND);
    // One options object for every block's retries (not one per block).
    const blockRetries = { policy: this.policy, snapshotStartedAt: startedAt, ...(signal ? { signal } : {}) };
    try {
      // Blocks an earlier attempt wrote (and marked) are not written again: the snapshot may be sealed.
      await runPool(
        target.blocksWritten ? [] : reader.blocks(),
        this.inFlight,
        async (ref: BlockRef) => {
          let attempts = 0;
          await withRetries(async () => {
            attempts += 1;
            const wait = spacing.reserve();
            if (wait > 0) await sleep(wait, undefined, signal ? { signal } : undefined);
            return putBlock(ref);
          }, blockRetries).catch((error: unknown) => {
            throw namedBlockError(
              error,
              { snapshotId, deviceName: request.deviceName, blockIndex: ref.index, attempts },
              signal,
            );
          });
          bytesDone += BLOCK_SIZE;
          request.onProgress?.(bytesDone);
        },
        signal,
      );
    } finally {
      sender.close();
    }
    await startedHook;
    if (!target.blocksWritten) await target.onBlocksWritten?.(snapshotId);

    await withRetries(
      () =>
        ebs.send(
          new CompleteSnapshotCommand({
            SnapshotId: snapshotId,
            ChangedBlocksCount: volume.blockCount,
            Checksum: checksum,
            ChecksumAlgorithm: 'SHA256',
            ChecksumAggregationMethod: 'LINEAR',
          }),
          { abortSignal: signal },
        ),
      { policy: this.policy, snapshotStartedAt: startedAt, ...(signal ? { signal } : {}) },
    );
    return this.finish(snapshotId, volume.sizeGiB, bytesDone, volume.blockCount, signal);
  }

  private finish(
    snapshotId: string,
    sizeGiB: number,
    bytesWritten: number,
    blocksWritten: number,
    signal?: AbortSignal,
  ): Promise<EbsDirectResult> {
    if (this.options.awaitCompletion === false)
      return Promise.resolve({ snapshotId, kmsKeyId: '', sizeGiB, bytesWritten, blocksWritten });
    return this.waitForCompleted(snapshotId, sizeGiB, bytesWritten, blocksWritten, signal);
  }

  /** CompleteSnapshot only seals the snapshot; EC2 reports `pending` until it is usable for CreateVolume. */
  private async waitForCompleted(
    snapshotId: string,
    sizeGiB: number,
    bytesWritten: number,
    blocksWritten: number,
    signal?: AbortSignal,
  ): Promise<EbsDirectResult> {
    const { ec2 } = this.options;
    const timeoutMs = this.options.completionTimeoutMs ?? 30 * 60_000;
    const pollMs = this.options.completionPollMs ?? 2_000;
    const deadline = Date.now() + timeoutMs;
    const startedAt = Date.now();
    for (;;) {
      const out = await withRetries(
        () => ec2.send(new DescribeSnapshotsCommand({ SnapshotIds: [snapshotId] }), { abortSignal: signal }),
        { policy: this.policy, snapshotStartedAt: startedAt, ...(signal ? { signal } : {}) },
      );
      const snapshot = out.Snapshots?.[0];
      if (snapshot?.State === 'completed') {
        return { snapshotId, kmsKeyId: snapshot.KmsKeyId ?? '', sizeGiB, bytesWritten, blocksWritten };
      }
      if (
        snapshot?.State === 'error' ||
        snapshot?.State === 'recoverable' ||
        snapshot?.State === 'recovering'
      ) {
        throw new SnapshotFailedError(
          snapshotId,
          `Snapshot ${snapshotId} went to state ${snapshot.State}${snapshot.StateMessage ? ` (${snapshot.StateMessage})` : ''}; start the restore again.`,
        );
      }
      if (Date.now() >= deadline) {
        throw new SnapshotFailedError(
          snapshotId,
          `Snapshot ${snapshotId} is still ${snapshot?.State ?? 'not visible'} after ${Math.round(timeoutMs / 60_000)} min; raise completionTimeoutMs or check the snapshot in EC2.`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, pollMs));
      if (signal?.aborted) throw signal.reason;
    }
  }
}
