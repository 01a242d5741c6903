/**
 * An open-loop load at a fixed rate: request i is due at start + i / rate, whether or not earlier ones
 * have been answered, and its latency counts from when it was due. A server (or client) that stalls
 * for 80 ms therefore shows every request that fell due during the stall as late, by as much as it
 * waited: the "coordinated omission" a closed-loop client hides.
 *
 * Why not autocannon's `overallRate`: each connection sends its share of a second back to back as
 * soon as the second starts, then idles, so "100 requests/s over 10 connections" is a burst of 100
 * requests 10 at a time once a second; and it corrects for coordinated omission with an expected
 * interval of 1 ms (`Math.ceil(1 / rate)`, a rate per second taken as one per millisecond), so a
 * 100 ms answer is recorded as 100 samples from 100 ms down to 1 ms. Neither is "100 requests/s".
 */
import { Agent, request } from 'node:http';

export interface PacedLoadOptions {
  url: string;
  headers: Record<string, string>;
  /** Requests per second, evenly spaced. */
  rate: number;
  seconds: number;
  /** Answered with another status, the request counts as unexpected. */
  expectStatus: number;
  /** Bound on one request; a request still unanswered by then counts as an error. @defaultValue 10 s */
  timeoutMs?: number;
}

export interface PacedLoadResult {
  requests: number;
  unexpected: number;
  errors: number;
  /** Milliseconds from when each answered request was due to its last byte, in the order sent. */
  latenciesMs: number[];
  /** The latest the client itself sent a request after it was due (its own stalls), ms. */
  maxSendLagMs: number;
}

export async function pacedLoad(options: PacedLoadOptions): Promise<PacedLoadResult> {
  const total = Math.round(options.rate * options.seconds);
  const intervalMs = 1000 / options.rate;
  const timeoutMs = options.timeoutMs ?? 10_000;
  // Keep-alive, and enough sockets that a slow answer never holds back the next request.
  const agent = new Agent({ keepAlive: true, maxSockets: 256 });
  const target = new URL(options.url);
  const result: PacedLoadResult = { requests: 0, unexpected: 0, errors: 0, latenciesMs: [], maxSendLagMs: 0 };
  const inFlight = new Set<Promise<void>>();

  const send = (dueAt: number) => {
    const done = new Promise<void>((settle) => {
      const req = request(
        target,
        { method: 'GET', headers: options.headers, agent, timeout: timeoutMs },
        (res) => {
          res.on('data', () => {});
          res.on('end', () => {
            result.latenciesMs.push(performance.now() - dueAt);
            if (res.statusCode !== options.expectStatus) result.unexpected++;
            settle();
          });
          res.on('error', () => {
            result.errors++;
            settle();
          });
        },
      );
      req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
      req.on('error', () => {
        result.errors++;
        settle();
      });
      req.end();
    });
    result.requests++;
    inFlight.add(done);
    void done.then(() => inFlight.delete(done));
  };

  const start = performance.now();
  for (let i = 0; i < total; i++) {
    const dueAt = start + i * intervalMs;
    const wait = dueAt - performance.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    result.maxSendLagMs = Math.max(result.maxSendLagMs, performance.now() - dueAt);
    send(dueAt);
  }
  await Promise.all(inFlight);
  agent.destroy();
  return result;
}
