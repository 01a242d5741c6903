// The part of autocannon's API the benchmark uses (the package ships no type declarations).
declare module 'autocannon' {
  import type { EventEmitter } from 'node:events';

  namespace autocannon {
    interface Options {
      url: string;
      method?: 'GET' | 'POST';
      body?: string;
      headers?: Record<string, string>;
      /** Concurrent connections. */
      connections?: number;
      /** Seconds to run. */
      duration?: number;
      /** Requests per second over all connections. */
      overallRate?: number;
    }
    interface Result {
      requests: { total: number };
      errors: number;
      timeouts: number;
      latency: { p50: number; p99: number; max: number };
    }
    interface Instance extends EventEmitter, PromiseLike<Result> {
      on(event: 'response', listener: (client: unknown, statusCode: number) => void): this;
    }
  }
  function autocannon(options: autocannon.Options): autocannon.Instance;
  export default autocannon;
}
