import { randomUUID } from 'node:crypto';
import {
  Agent,
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  request,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  classifyEc2Operation,
  type Ec2OperationClass,
  reserveToken,
  type TokenBucketLimit,
  type TokenBucketState,
} from '@ec2-restore/aws-budget';

/**
 * An HTTP proxy in front of the AWS emulator that answers some EC2 calls the way AWS does on a bad
 * day, for fault tests. A faulted call is answered by the proxy and never reaches the emulator, as
 * when AWS throttles: the request is refused before it is processed, so a retry is always safe.
 * Everything else (KMS, STS, the EBS direct API's binary PutSnapshotBlock bodies, S3) streams through
 * unchanged.
 */

/** The two faults: AWS's throttling answer and its "try again" answer. */
export type InjectedFault = 'RequestLimitExceeded' | 'Unavailable';

// Bodies in EC2's XML error format (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/errors-overview.html).
// RequestLimitExceeded: "The maximum request rate permitted by the Amazon EC2 APIs has been exceeded
// for your account", HTTP 503 (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/errors-overview.html#api-error-codes-table-server);
// Unavailable: "The server is overloaded and can't handle the request", HTTP 503.
const FAULT_MESSAGES: Record<InjectedFault, string> = {
  RequestLimitExceeded: 'Request limit exceeded.',
  Unavailable: "The server is overloaded and can't handle the request.",
};

export interface FaultProxyOptions {
  /** Where calls go when they are not faulted, e.g. the emulator's `http://127.0.0.1:PORT`. */
  target: string;
  /** Fraction (0..1) of eligible EC2 calls answered with a fault. @defaultValue 0.1 */
  faultRate?: number;
  /** Faults to pick from, uniformly. @defaultValue both */
  faults?: readonly InjectedFault[];
  /**
   * Which EC2 actions may be faulted (`CreateVolume`, `DescribeVolumes`).
   * @defaultValue every EC2 action
   */
  eligible?: (action: string) => boolean;
  /** Source of randomness, for a repeatable sequence of faults. @defaultValue Math.random */
  random?: () => number;
  /**
   * Throttle like AWS on top of the random faults: a token bucket per (access key, region, operation
   * class) with these sizes; an EC2 call that finds its bucket empty is answered RequestLimitExceeded.
   * @defaultValue none
   */
  awsLikeThrottling?: Partial<Record<Ec2OperationClass, TokenBucketLimit>>;
  /**
   * EC2's eventual consistency: for this long after CreateVolume / RunInstances returned an id, a
   * DescribeVolumes / DescribeInstances naming that id is answered `InvalidVolume.NotFound` /
   * `InvalidInstanceID.NotFound`, as AWS may ("up to a few minutes",
   * https://docs.aws.amazon.com/ec2/latest/devguide/eventual-consistency.html).
   * @defaultValue 0 (new ids are visible at once)
   */
  newIdsInvisibleMs?: number;
  /**
   * EBS direct block writes (PUT /snapshots/{id}/blocks/{index}) answered InternalServerException
   * (HTTP 500, retryable: https://docs.aws.amazon.com/ebs/latest/APIReference/API_PutSnapshotBlock.html#API_PutSnapshotBlock_Errors)
   * while this returns true; `attempt` counts this block's writes, from 1.
   * @defaultValue none
   */
  failBlockWrite?: (snapshotId: string, blockIndex: number, attempt: number) => boolean;
  /**
   * Runs before an EC2 call that is not faulted is passed on, and the call waits for it: changes the
   * world between two calls of the code under test (a key disabled just before CreateSnapshot).
   * @defaultValue none
   */
  beforeForward?: (action: string) => Promise<void>;
}

export interface FaultProxyCounts {
  /** EC2 calls seen, per action (faulted or not). */
  ec2Calls: Record<string, number>;
  /** Faults answered, per action and fault. */
  injected: Record<string, Partial<Record<InjectedFault, number>>>;
  /** Faults answered, in total per fault. */
  injectedTotal: Record<InjectedFault, number>;
  /** Requests passed to the target (all services). */
  forwarded: number;
  /** Calls refused by awsLikeThrottling (also counted in injected as RequestLimitExceeded), per action. */
  throttled: Record<string, number>;
  /** Describe calls answered "not found" for a new id (newIdsInvisibleMs), per action. */
  hiddenNewIds: Record<string, number>;
  /** Answers of the target to forwarded requests, per HTTP status (all services). */
  forwardedAnswers: Record<number, number>;
  /** EBS direct block writes seen (faulted or not), per `snapshotId/blockIndex`. */
  blockWrites: Record<string, number>;
}

export interface FaultProxy {
  /** `http://127.0.0.1:PORT`: use as the SDK endpoint / AWS_ENDPOINT_URL. */
  endpoint: string;
  /** Changes the fraction of faulted calls from now on (0 stops faults). */
  setFaultRate(rate: number): void;
  counts(): FaultProxyCounts;
  /** Stops listening and closes idle connections to the target. */
  close(): Promise<void>;
}

/** The SigV4 credential scope of a request: who signed it, for which region and service. */
function credentialScope(
  headers: IncomingHttpHeaders,
): { accessKeyId: string; region: string; service: string } | undefined {
  const match = /Credential=([^/]+)\/\d{8}\/([^/]+)\/([^/]+)\/aws4_request/.exec(headers.authorization ?? '');
  return match ? { accessKeyId: match[1]!, region: match[2]!, service: match[3]! } : undefined;
}

function assertRate(rate: number): void {
  if (!(rate >= 0 && rate <= 1)) throw new Error(`faultRate must be between 0 and 1, got ${rate}`);
}

export async function startFaultProxy(options: FaultProxyOptions): Promise<FaultProxy> {
  let faultRate = options.faultRate ?? 0.1;
  assertRate(faultRate);
  const faults = options.faults ?? (['RequestLimitExceeded', 'Unavailable'] as const);
  if (faults.length === 0) throw new Error('faults must name at least one fault');
  const random = options.random ?? Math.random;
  const eligible = options.eligible ?? (() => true);
  const target = new URL(options.target);
  const agent = new Agent({ keepAlive: true, maxSockets: 256 });

  const counts: FaultProxyCounts = {
    ec2Calls: {},
    injected: {},
    injectedTotal: { RequestLimitExceeded: 0, Unavailable: 0 },
    forwarded: 0,
    throttled: {},
    hiddenNewIds: {},
    forwardedAnswers: {},
    blockWrites: {},
  };
  const invisibleMs = options.newIdsInvisibleMs ?? 0;
  /** New id -> when it becomes visible. */
  const visibleAt = new Map<string, number>();
  const createdIds: Record<string, RegExp> = {
    CreateVolume: /<volumeId>(vol-[0-9a-f]+)<\/volumeId>/g,
    RunInstances: /<instanceId>(i-[0-9a-f]+)<\/instanceId>/g,
  };
  const describedIds: Record<string, { param: RegExp; code: string; noun: string }> = {
    DescribeVolumes: { param: /^VolumeId\.\d+$/, code: 'InvalidVolume.NotFound', noun: 'volume' },
    DescribeInstances: {
      param: /^InstanceId\.\d+$/,
      code: 'InvalidInstanceID.NotFound',
      noun: 'instance ID',
    },
  };

  /** An id of the request not visible yet, with the error AWS gives for it. */
  function hiddenIdOf(
    action: string,
    form: URLSearchParams,
  ): { id: string; code: string; noun: string } | undefined {
    const described = describedIds[action];
    if (!described || visibleAt.size === 0) return undefined;
    const now = Date.now();
    for (const [name, value] of form) {
      if (!described.param.test(name)) continue;
      const until = visibleAt.get(value);
      if (until !== undefined && now < until)
        return { id: value, code: described.code, noun: described.noun };
    }
    return undefined;
  }
  const awsBuckets = new Map<string, TokenBucketState>();

  /** True when AWS would refuse this call now (its bucket is empty); takes a token otherwise. */
  function awsWouldThrottle(scope: { accessKeyId: string; region: string }, action: string): boolean {
    const operationClass = classifyEc2Operation(action);
    const limit = options.awsLikeThrottling?.[operationClass];
    if (!limit) return false;
    const key = `${scope.accessKeyId}|${scope.region}|${operationClass}`;
    const outcome = reserveToken(awsBuckets.get(key), Date.now(), limit);
    awsBuckets.set(key, outcome.state);
    return !outcome.granted;
  }

  function forward(req: IncomingMessage, res: ServerResponse, body?: Buffer, createAction?: string): void {
    counts.forwarded++;
    // Node has already answered `Expect: 100-continue`; the body follows without waiting.
    const { expect: _expect, ...headers } = req.headers;
    const upstream = request(
      {
        protocol: target.protocol,
        hostname: target.hostname,
        port: target.port,
        method: req.method,
        path: req.url,
        headers,
        agent,
      },
      (answer) => {
        const status = answer.statusCode ?? 502;
        counts.forwardedAnswers[status] = (counts.forwardedAnswers[status] ?? 0) + 1;
        const pattern = createAction ? createdIds[createAction] : undefined;
        if (!pattern) {
          res.writeHead(answer.statusCode ?? 502, answer.statusMessage, answer.rawHeaders);
          answer.pipe(res);
          return;
        }
        // A create's (small) answer is read to learn the new ids, then passed on unchanged.
        const parts: Buffer[] = [];
        answer.on('data', (chunk: Buffer) => parts.push(chunk));
        answer.on('end', () => {
          const text = Buffer.concat(parts);
          for (const match of text.toString('utf8').matchAll(pattern)) {
            visibleAt.set(match[1]!, Date.now() + invisibleMs);
          }
          res.writeHead(answer.statusCode ?? 502, answer.statusMessage, answer.rawHeaders);
          res.end(text);
        });
      },
    );
    upstream.on('error', (error) => {
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' });
      res.end(`fault proxy: target ${options.target} failed: ${error.message}`);
    });
    if (body) upstream.end(body);
    else req.pipe(upstream);
  }

  function answerFault(res: ServerResponse, fault: InjectedFault): void {
    answerError(res, 503, fault, FAULT_MESSAGES[fault]);
  }

  function answerError(res: ServerResponse, status: number, code: string, message: string): void {
    const requestId = randomUUID();
    const xml =
      '<?xml version="1.0" encoding="UTF-8"?>\n' +
      `<Response><Errors><Error><Code>${code}</Code><Message>${message}</Message></Error></Errors>` +
      `<RequestID>${requestId}</RequestID></Response>`;
    res.writeHead(status, {
      'content-type': 'text/xml;charset=UTF-8',
      'content-length': Buffer.byteLength(xml),
      'x-amzn-requestid': requestId,
    });
    res.end(xml);
  }

  const server = createServer((req, res) => {
    // EC2 speaks the query protocol: a form-encoded POST whose body names the Action. Only those bodies
    // (small) are read here; every other request streams through.
    const scope = credentialScope(req.headers);
    const block = req.method === 'PUT' ? /^\/snapshots\/([^/]+)\/blocks\/(\d+)$/.exec(req.url ?? '') : null;
    if (block) {
      const key = `${block[1]}/${block[2]}`;
      const attempt = (counts.blockWrites[key] ?? 0) + 1;
      counts.blockWrites[key] = attempt;
      if (options.failBlockWrite?.(block[1]!, Number(block[2]), attempt)) {
        req.resume();
        req.on('end', () => {
          const body = JSON.stringify({ message: 'An internal error has occurred.' });
          res.writeHead(500, {
            'content-type': 'application/json',
            'x-amzn-errortype': 'InternalServerException',
            'x-amzn-requestid': randomUUID(),
          });
          res.end(body);
        });
        return;
      }
    }
    if (req.method !== 'POST' || scope?.service !== 'ec2') {
      forward(req, res);
      return;
    }
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const form = new URLSearchParams(body.toString('utf8'));
      const action = form.get('Action') ?? 'Unknown';
      counts.ec2Calls[action] = (counts.ec2Calls[action] ?? 0) + 1;
      const hidden = invisibleMs > 0 ? hiddenIdOf(action, form) : undefined;
      if (hidden) {
        counts.hiddenNewIds[action] = (counts.hiddenNewIds[action] ?? 0) + 1;
        answerError(res, 400, hidden.code, `The ${hidden.noun} '${hidden.id}' does not exist`);
        return;
      }
      if (awsWouldThrottle(scope, action)) {
        counts.throttled[action] = (counts.throttled[action] ?? 0) + 1;
        counts.injectedTotal.RequestLimitExceeded++;
        counts.injected[action] ??= {};
        const perAction = counts.injected[action];
        perAction.RequestLimitExceeded = (perAction.RequestLimitExceeded ?? 0) + 1;
        answerFault(res, 'RequestLimitExceeded');
        return;
      }
      if (faultRate > 0 && eligible(action) && random() < faultRate) {
        const fault = faults[Math.floor(random() * faults.length)] ?? faults[0]!;
        counts.injected[action] ??= {};
        const perAction = counts.injected[action];
        perAction[fault] = (perAction[fault] ?? 0) + 1;
        counts.injectedTotal[fault]++;
        answerFault(res, fault);
        return;
      }
      const pass = () =>
        forward(req, res, body, invisibleMs > 0 && action in createdIds ? action : undefined);
      if (!options.beforeForward) return pass();
      options
        .beforeForward(action)
        .then(pass, (error: Error) =>
          answerError(
            res,
            500,
            'InternalError',
            `fault proxy beforeForward(${action}) failed: ${error.message}`,
          ),
        );
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;

  return {
    endpoint: `http://127.0.0.1:${port}`,
    setFaultRate(rate) {
      assertRate(rate);
      faultRate = rate;
    },
    counts: () => structuredClone(counts),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
        agent.destroy();
      }),
  };
}

/** Sum of one action's faults (both kinds). */
export function injectedFor(counts: FaultProxyCounts, action: string): number {
  const perAction = counts.injected[action] ?? {};
  return (perAction.RequestLimitExceeded ?? 0) + (perAction.Unavailable ?? 0);
}

/** A repeatable source of numbers in [0, 1) (mulberry32), so a fault test sees the same faults each run. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
