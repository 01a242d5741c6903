import {
  type ClientRequest,
  Agent as HttpAgent,
  request as httpRequest,
  type IncomingMessage,
} from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import type { EBSClient } from '@aws-sdk/client-ebs';
import { BlockRequestSigner, type SigningCredentials } from './block-request-signer.ts';

/** One PutSnapshotBlock call. */
export interface SnapshotBlock {
  snapshotId: string;
  blockIndex: number;
  /** Exactly one block (512 KiB). */
  data: Buffer;
  /** The block's SHA-256, base64: EBS checks the body against it. */
  checksumBase64: string;
}

export interface SnapshotBlockSenderOptions {
  /** Sockets kept open: the writer's calls in flight, so no call waits for a socket. */
  sockets: number;
  /**
   * Socket inactivity timeout per call (connecting included), so a stalled connection cannot hang a
   * write; the call then fails with TimeoutError, which the writer retries.
   * @defaultValue 30000 (the AWS client factory's)
   */
  requestTimeoutMs?: number;
}

/** The parts of an EBS client's resolved configuration the sender reuses: credentials, signing name, endpoint. */
interface EbsClientConfig {
  credentials: () => Promise<SigningCredentials>;
  signingName?: string;
  region: () => Promise<string>;
  useFipsEndpoint: () => Promise<boolean>;
  useDualstackEndpoint: () => Promise<boolean>;
  endpoint?: () => Promise<{ protocol: string; hostname: string; port?: number; path: string }>;
  endpointProvider: (params: Record<string, unknown>) => { url: URL };
  systemClockOffset?: number;
}

/** Set by recordAwsCalls (@ec2-restore/restore-state) on an instrumented client: the AWS call metrics. */
interface DirectCallReporting {
  recordDirectCall?: (operation: string, error?: unknown) => void;
}

/**
 * An EBS direct API error, shaped like the SDK's service exceptions (name is AWS's error code,
 * `$metadata` the status and request id), so classifyAwsError and the retry policy treat it the same.
 */
export class EbsDirectHttpError extends Error {
  readonly $metadata: { httpStatusCode: number; requestId?: string };
  readonly $fault: 'client' | 'server';
  /** EBS direct's reason field, e.g. SNAPSHOT_NOT_FOUND. */
  readonly Reason: string | undefined;

  constructor(code: string, message: string, status: number, requestId?: string, reason?: string) {
    super(message);
    this.name = code;
    this.$metadata = { httpStatusCode: status, ...(requestId ? { requestId } : {}) };
    this.$fault = status >= 500 ? 'server' : 'client';
    this.Reason = reason;
  }
}

function abortError(signal: AbortSignal): Error {
  const error = new Error('PutSnapshotBlock: the call was aborted', { cause: signal.reason });
  error.name = 'AbortError';
  return error;
}

class TimeoutError extends Error {
  constructor(ms: number) {
    super(`PutSnapshotBlock: no answer for ${ms} ms; the connection was closed`);
    this.name = 'TimeoutError';
  }
}

/**
 * PutSnapshotBlock without the SDK's per-call machinery: the EBS client's own SigV4 signer (same
 * credentials, refreshed as the client refreshes them; same region and signing name) on a keep-alive
 * node:http(s) agent with one socket per call in flight. The SDK builds a middleware stack and several
 * objects per `send`; with 512 KiB bodies at hundreds of calls per second that was a quarter of the
 * writer's CPU. The request is the one the API reference defines
 * (https://docs.aws.amazon.com/ebs/latest/APIReference/API_PutSnapshotBlock.html): the body is not
 * signed (`UNSIGNED-PAYLOAD`), its integrity is the x-amz-Checksum header, as the service model's
 * `v4-unsigned-body` says. Retries are the caller's: one budget per block.
 */
export class SnapshotBlockSender {
  private readonly agent: HttpAgent;
  private readonly httpRequest: typeof httpRequest;
  private readonly timeoutMs: number;

  private readonly record: (error?: unknown) => void;
  /** Where every call goes, as request options (not the URL, which would be converted on each call). */
  private readonly target: { protocol: string; hostname: string; port?: number; agent: HttpAgent };
  private readonly basePath: string;
  /** The Host header (a string: URL's getter runs on every read). */
  private readonly host: string;
  /**
   * The calls in flight per signal, with the one listener that ends them when it aborts: cheaper than a
   * listener per call (the writer passes the same signal to every call of a volume).
   */
  private readonly watched = new Map<AbortSignal, { calls: Set<ClientRequest>; onAbort: () => void }>();
  /**
   * The client's credentials, asked for again every second on a timer (the client refreshes them
   * before they expire): a call never waits for them, and the per-call code has no branch that runs
   * once a second (the JIT would drop and recompile the hot path the first time it ran).
   */
  private credentials: SigningCredentials | undefined;
  /** Why the last refresh failed; calls fail with it until a refresh succeeds. */
  private credentialsError: unknown;
  private refreshTimer: ReturnType<typeof setInterval> | undefined;

  private constructor(
    client: DirectCallReporting,
    private readonly config: EbsClientConfig,
    private readonly signer: BlockRequestSigner,
    endpoint: URL,
    options: SnapshotBlockSenderOptions,
  ) {
    const https = endpoint.protocol === 'https:';
    const agentOptions = { keepAlive: true, maxSockets: options.sockets, maxFreeSockets: options.sockets };
    this.agent = https ? new HttpsAgent(agentOptions) : new HttpAgent(agentOptions);
    this.httpRequest = https ? httpsRequest : httpRequest;
    this.timeoutMs = options.requestTimeoutMs ?? 30_000;
    this.target = {
      protocol: endpoint.protocol,
      hostname: endpoint.hostname,
      ...(endpoint.port ? { port: Number(endpoint.port) } : {}),
      agent: this.agent,
    };
    this.basePath = endpoint.pathname.replace(/\/$/, '');
    this.host = endpoint.host;
    const report = client.recordDirectCall;
    this.record = report ? (error) => report('EBS.PutSnapshotBlock', error) : () => {};
  }

  /** A sender that signs and addresses its calls exactly as `ebs` would. */
  static async forClient(ebs: EBSClient, options: SnapshotBlockSenderOptions): Promise<SnapshotBlockSender> {
    const config = ebs.config as unknown as EbsClientConfig;
    const override = config.endpoint ? await config.endpoint() : undefined;
    // The SDK's own endpoint rules: the override (the emulator), else the regional, FIPS or dual-stack one.
    const { url } = config.endpointProvider({
      Region: await config.region(),
      UseFIPS: await config.useFipsEndpoint(),
      UseDualStack: await config.useDualstackEndpoint(),
      ...(override
        ? {
            Endpoint: `${override.protocol}//${override.hostname}${override.port ? `:${override.port}` : ''}${override.path}`,
          }
        : {}),
    });
    const signer = new BlockRequestSigner(await config.region(), config.signingName ?? 'ebs');
    const sender = new SnapshotBlockSender(ebs as DirectCallReporting, config, signer, url, options);
    await sender.startRefreshingCredentials();
    return sender;
  }

  /**
   * Sends one block. `onBodySent` is called once the body is handed to the operating system (or the
   * call failed before that): from then on the caller may reuse `block.data` while EBS answers.
   */
  async put(block: SnapshotBlock, signal?: AbortSignal, onBodySent?: () => void): Promise<void> {
    try {
      if (this.credentialsError !== undefined) throw this.credentialsError;
      if (signal?.aborted) throw abortError(signal);
      // Set before forClient returns the sender.
      await this.exchange(block, this.credentials!, signal, onBodySent);
      this.record();
    } catch (error) {
      this.record(error);
      throw error;
    }
  }

  /** Asks for the credentials now (a failure fails the sender's creation), then once a second. */
  private async startRefreshingCredentials(): Promise<void> {
    this.credentials = await this.config.credentials();
    this.refreshTimer = setInterval(() => {
      this.config.credentials().then(
        (credentials) => {
          this.credentials = credentials;
          this.credentialsError = undefined;
        },
        (error: unknown) => {
          this.credentialsError = error;
        },
      );
    }, 1_000);
    // A sender left open does not keep the process alive.
    this.refreshTimer.unref();
  }

  /** One PutSnapshotBlock call: settles once EBS's answer is read to its end. */
  private exchange(
    block: SnapshotBlock,
    credentials: SigningCredentials,
    signal: AbortSignal | undefined,
    onBodySent: (() => void) | undefined,
  ): Promise<void> {
    const path = `${this.basePath}/snapshots/${encodeURIComponent(block.snapshotId)}/blocks/${block.blockIndex}`;
    const length = String(block.data.length);
    // Flat, as node:http takes them without a setHeader call (and its checks) per header.
    const headers = this.signer.sign(
      'PUT',
      path,
      {
        host: this.host,
        'content-type': 'application/octet-stream',
        'content-length': length,
        'x-amz-content-sha256': 'UNSIGNED-PAYLOAD',
        'x-amz-data-length': length,
        'x-amz-checksum': block.checksumBase64,
        'x-amz-checksum-algorithm': 'SHA256',
      },
      credentials,
      new Date(Date.now() + (this.config.systemClockOffset ?? 0)),
    );
    return new Promise<void>((resolve, reject) => {
      const calls = signal ? this.callsOn(signal) : undefined;
      const settle = (error?: unknown): void => {
        calls?.delete(req);
        if (error === undefined) resolve();
        else reject(error);
      };
      const req = this.httpRequest({ ...this.target, method: 'PUT', path, headers }, (response) => {
        if (response.statusCode === 201 || response.statusCode === 200) {
          // Drained, so the socket goes back to the agent for the next call.
          response.on('end', settle).on('error', settle).resume();
        } else {
          errorOf(response).then(settle, settle);
        }
      });
      calls?.add(req);
      req.setTimeout(this.timeoutMs, () => req.destroy(new TimeoutError(this.timeoutMs)));
      req.on('error', settle);
      if (onBodySent) {
        // `close` covers a call that failed before its body went out. Plain listeners and a flag, not
        // `once` (a wrapper per listener and two removals per call): the request is dropped after `close`.
        let sent = false;
        const bodySent = (): void => {
          if (sent) return;
          sent = true;
          onBodySent();
        };
        req.on('finish', bodySent).on('close', bodySent);
      }
      req.end(block.data);
    });
  }

  private callsOn(signal: AbortSignal): Set<ClientRequest> {
    let entry = this.watched.get(signal);
    if (!entry) {
      const calls = new Set<ClientRequest>();
      const onAbort = (): void => {
        for (const call of calls) call.destroy(abortError(signal));
      };
      signal.addEventListener('abort', onAbort, { once: true });
      entry = { calls, onAbort };
      this.watched.set(signal, entry);
    }
    return entry.calls;
  }

  /** Closes the sockets, stops listening on the calls' signals and stops refreshing the credentials. */
  close(): void {
    clearInterval(this.refreshTimer);
    for (const [signal, { onAbort }] of this.watched) signal.removeEventListener('abort', onAbort);
    this.watched.clear();
    this.agent.destroy();
  }
}

/** The restJson1 error of an EBS direct call: type in x-amzn-ErrorType, message and Reason in the body. */
async function errorOf(response: IncomingMessage): Promise<EbsDirectHttpError> {
  const chunks: Buffer[] = [];
  for await (const chunk of response) chunks.push(chunk as Buffer);
  const status = response.statusCode ?? 0;
  let body: { message?: string; Message?: string; Reason?: string; __type?: string; code?: string } = {};
  try {
    body = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}');
  } catch {
    // Not JSON (a proxy's page): the status speaks.
  }
  const header = response.headers['x-amzn-errortype'];
  const rawType = (Array.isArray(header) ? header[0] : header) ?? body.__type ?? body.code ?? '';
  // "ValidationException:http://internal.amazon.com/..." or "aws.ebs#ValidationException".
  const type = rawType.split(':')[0]!.split('#').pop() || `Http${status}`;
  const requestId = response.headers['x-amzn-requestid'] as string | undefined;
  return new EbsDirectHttpError(
    type,
    body.message ?? body.Message ?? `PutSnapshotBlock answered HTTP ${status}`,
    status,
    requestId,
    body.Reason,
  );
}
