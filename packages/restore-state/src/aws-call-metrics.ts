/**
 * Counts the AWS calls of an SDK v3 client into the shared metrics of a {@link RestoreStore}, so the
 * API's /metrics shows `ec2restore_aws_calls_total` and `ec2restore_aws_errors_total` for every
 * process. Typed structurally: this package does not depend on the AWS SDK.
 */
import { AWS_THROTTLING_CODES } from '@ec2-restore/contracts';
import type { AwsCallScope, RestoreStore } from './restore-store.ts';

interface HandlerContext {
  clientName?: string;
  commandName?: string;
}

type Handler = (args: unknown) => Promise<unknown>;

/**
 * The part of an SDK v3 client this needs (`client.middlewareStack.add`). The parameters are
 * `never` so that every client's precisely typed stack fits; the call below passes an initialize
 * middleware, which every client accepts.
 */
export interface InstrumentableClient {
  middlewareStack: { add(middleware: never, options: never): void };
}

/**
 * What recordAwsCalls adds to a client: calls a product module sends beside the SDK with the client's
 * own signer and endpoint (SnapshotBlockSender's PutSnapshotBlock in @ec2-restore/snapshot-writers)
 * report each attempt here, and are counted like the SDK's (a throttled attempt as a throttle too).
 */
export interface DirectCallReporting {
  recordDirectCall?: (operation: string, error?: unknown) => void;
}

/** Where a client's calls go: its region, and its account, known or found out once (e.g. by STS). */
export interface AwsCallScopeSource {
  accountId?: string | (() => Promise<string>);
  region?: string;
}

/**
 * Adds two middlewares: one records each call once (at the initialize step, so SDK retries of one call
 * count once) as `EC2.CreateVolume`, and its error code when it finally fails; one, inside the SDK's
 * retries, records every attempt AWS throttled. Both under the account and region of `scope`.
 * Recording never fails the call: a Redis problem only loses the count.
 */
export function recordAwsCalls(
  client: InstrumentableClient,
  store: Pick<RestoreStore, 'recordAwsCall'> & Partial<Pick<RestoreStore, 'recordAwsThrottle'>>,
  scope: AwsCallScopeSource = {},
): void {
  let account: Promise<string> | undefined;
  const where = async (): Promise<AwsCallScope> => {
    if (typeof scope.accountId === 'function') {
      // Found out once per client; a failure leaves it unknown (and is asked again next time).
      account ??= scope.accountId().catch(() => {
        account = undefined;
        return 'unknown';
      });
    }
    return {
      accountId: typeof scope.accountId === 'function' ? await account : scope.accountId,
      ...(scope.region ? { region: scope.region } : {}),
    };
  };
  const record = (operation: string, code?: string) =>
    void where()
      .then((at) => store.recordAwsCall(operation, code, at))
      .catch(() => {});
  const middleware = (next: Handler, context: HandlerContext) => async (args: unknown) => {
    const operation = operationName(context);
    try {
      const output = await next(args);
      record(operation);
      return output;
    } catch (err) {
      record(operation, errorCode(err));
      throw err;
    }
  };
  const throttles = (next: Handler, context: HandlerContext) => async (args: unknown) => {
    try {
      return await next(args);
    } catch (err) {
      if (store.recordAwsThrottle && AWS_THROTTLING_CODES.has(errorCode(err))) {
        const operation = operationName(context);
        void where()
          .then((at) => store.recordAwsThrottle?.(operation, at))
          .catch(() => {});
      }
      throw err;
    }
  };
  (client as DirectCallReporting).recordDirectCall = (operation, error) => {
    const code = error === undefined ? undefined : errorCode(error);
    record(operation, code);
    if (code !== undefined && store.recordAwsThrottle && AWS_THROTTLING_CODES.has(code)) {
      void where()
        .then((at) => store.recordAwsThrottle?.(operation, at))
        .catch(() => {});
    }
  };
  const options = { step: 'initialize', name: 'ec2RestoreAwsCallMetrics', override: true };
  client.middlewareStack.add(middleware as never, options as never);
  // At the deserialize step, high priority: around the SDK's deserializer, inside its retry loop, so
  // each attempt's parsed error is seen.
  const perAttempt = {
    step: 'deserialize',
    priority: 'high',
    name: 'ec2RestoreAwsThrottleMetrics',
    override: true,
  };
  client.middlewareStack.add(throttles as never, perAttempt as never);
}

/** `EC2Client` + `CreateVolumeCommand` → `EC2.CreateVolume`. */
function operationName(context: HandlerContext): string {
  const service = (context.clientName ?? 'Unknown').replace(/Client$/, '');
  const command = (context.commandName ?? 'Unknown').replace(/Command$/, '');
  return `${service}.${command}`;
}

function errorCode(err: unknown): string {
  const named = err as { name?: unknown; Code?: unknown; code?: unknown } | null;
  for (const candidate of [named?.Code, named?.name, named?.code]) {
    if (typeof candidate === 'string' && candidate !== '' && candidate !== 'Error') return candidate;
  }
  return 'Unknown';
}
