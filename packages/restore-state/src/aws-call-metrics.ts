/**
 * Counts the AWS calls of an SDK v3 client into the shared metrics of a {@link RestoreStore}, so the
 * API's /metrics shows `ec2restore_aws_calls_total` and `ec2restore_aws_errors_total` for every
 * process. Typed structurally: this package does not depend on the AWS SDK.
 */
import type { RestoreStore } from './restore-store.ts';

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
 * Adds a middleware that records each call once (at the initialize step, so SDK retries of one call
 * count once) as `EC2.CreateVolume`, and its error code when it finally fails. Recording never
 * fails the call: a Redis problem only loses the count.
 */
export function recordAwsCalls(
  client: InstrumentableClient,
  store: Pick<RestoreStore, 'recordAwsCall'>,
): void {
  const middleware = (next: Handler, context: HandlerContext) => async (args: unknown) => {
    const operation = operationName(context);
    try {
      const output = await next(args);
      void store.recordAwsCall(operation).catch(() => {});
      return output;
    } catch (err) {
      void store.recordAwsCall(operation, errorCode(err)).catch(() => {});
      throw err;
    }
  };
  const options = { step: 'initialize', name: 'ec2RestoreAwsCallMetrics', override: true };
  client.middlewareStack.add(middleware as never, options as never);
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
