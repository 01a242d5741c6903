import type { RestoreStatus } from './types.ts';

/**
 * The Redis keys of the restore store, under its prefix: `restore:{id}` (hash), `restore:{id}:progress`
 * (hash), `restore:{id}:events` (stream), `restores:all` and `restores:{status}` (sorted sets by
 * creation time), `idempotency:{key}`, `metrics` (hash shared by every process).
 */
export class RestoreKeys {
  constructor(readonly prefix: string) {}

  record(id: string): string {
    return `${this.prefix}restore:${id}`;
  }

  progress(id: string): string {
    return `${this.prefix}restore:${id}:progress`;
  }

  events(id: string): string {
    return `${this.prefix}restore:${id}:events`;
  }

  index(status: RestoreStatus | 'all'): string {
    return `${this.prefix}restores:${status}`;
  }

  idempotency(key: string): string {
    return `${this.prefix}idempotency:${key}`;
  }

  metrics(): string {
    return `${this.prefix}metrics`;
  }
}
