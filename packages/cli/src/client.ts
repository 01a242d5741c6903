import type {
  ApiError,
  PlanResult,
  Restore,
  RestorePointSummary,
  RestoreRequestInput,
  RestoreStatus,
} from '@ec2-restore/contracts';
import type { Connection } from './connection.ts';
import { CliError, ExitCode } from './exit-codes.ts';

/** How long one request may take before the CLI gives up (event streams excepted). */
const REQUEST_TIMEOUT_MS = 60_000;

/** An answer of the API that is not a success, with the error envelope it sent. */
export class ApiRequestError extends CliError {
  constructor(
    readonly status: number,
    readonly error: ApiError['error'] | undefined,
    body: unknown,
  ) {
    super(
      error ? `${error.code}: ${error.message}` : `the API answered HTTP ${status}`,
      status === 400
        ? ExitCode.Usage
        : status === 422 && error?.code === 'preflight_failed'
          ? ExitCode.PreflightRefused
          : ExitCode.Failed,
      body,
    );
    this.name = 'ApiRequestError';
  }
}

/** The ec2-restore HTTP API, as the CLI uses it. */
export class ApiClient {
  constructor(private readonly connection: Connection) {}

  plan(request: RestoreRequestInput): Promise<PlanResult> {
    return this.call('POST', '/v1/restores/plan', { body: request });
  }

  createRestore(request: RestoreRequestInput, idempotencyKey?: string): Promise<Restore> {
    return this.call('POST', '/v1/restores', {
      body: request,
      headers: idempotencyKey ? { 'idempotency-key': idempotencyKey } : {},
    });
  }

  getRestore(id: string): Promise<Restore> {
    return this.call('GET', `/v1/restores/${encodeURIComponent(id)}`);
  }

  async listRestores(filter: { status?: RestoreStatus; limit?: number }): Promise<Restore[]> {
    const query = new URLSearchParams();
    if (filter.status) query.set('status', filter.status);
    if (filter.limit) query.set('limit', String(filter.limit));
    const suffix = query.size > 0 ? `?${query}` : '';
    return (await this.call<{ restores: Restore[] }>('GET', `/v1/restores${suffix}`)).restores;
  }

  cancelRestore(id: string): Promise<Restore> {
    return this.call('POST', `/v1/restores/${encodeURIComponent(id)}/cancel`);
  }

  async listRestorePoints(): Promise<RestorePointSummary[]> {
    return (await this.call<{ restorePoints: RestorePointSummary[] }>('GET', '/v1/restore-points'))
      .restorePoints;
  }

  getRestorePoint(id: string): Promise<RestorePointSummary> {
    return this.call('GET', `/v1/restore-points/${encodeURIComponent(id)}`);
  }

  /** Opens the event stream of a restore; the caller reads the body. */
  async openEvents(id: string, lastEventId: string | undefined, signal: AbortSignal): Promise<Response> {
    const response = await this.send(`/v1/restores/${encodeURIComponent(id)}/events`, {
      method: 'GET',
      headers: {
        ...this.headers(),
        accept: 'text/event-stream',
        ...(lastEventId ? { 'last-event-id': lastEventId } : {}),
      },
      signal,
    });
    if (!response.ok || !response.body) throw await this.failure(response);
    return response;
  }

  private headers(): Record<string, string> {
    return { authorization: `Bearer ${this.connection.token}` };
  }

  private async call<T>(
    method: string,
    path: string,
    options: { body?: unknown; headers?: Record<string, string> } = {},
  ): Promise<T> {
    const response = await this.send(path, {
      method,
      headers: {
        ...this.headers(),
        ...(options.body !== undefined ? { 'content-type': 'application/json' } : {}),
        ...options.headers,
      },
      ...(options.body !== undefined ? { body: JSON.stringify(options.body) } : {}),
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
    if (!response.ok) throw await this.failure(response);
    return (await response.json()) as T;
  }

  private async send(path: string, init: RequestInit): Promise<Response> {
    const url = `${this.connection.endpoint}${path}`;
    try {
      return await fetch(url, init);
    } catch (error) {
      const cause = (error as { cause?: { code?: string; message?: string } }).cause;
      const reason =
        (error as Error).name === 'TimeoutError'
          ? `no answer within ${REQUEST_TIMEOUT_MS / 1000} s`
          : (cause?.code ?? cause?.message ?? (error as Error).message);
      throw new CliError(
        `cannot reach the API at ${this.connection.endpoint} (${reason}); check --endpoint / EC2_RESTORE_ENDPOINT`,
        ExitCode.Failed,
      );
    }
  }

  private async failure(response: Response): Promise<ApiRequestError> {
    const text = await response.text();
    let body: unknown = text;
    try {
      body = JSON.parse(text);
    } catch {
      // Not the API's envelope (a proxy's page, say): keep the text.
    }
    const envelope = (body as Partial<ApiError> | undefined)?.error;
    return new ApiRequestError(response.status, envelope, body);
  }
}
