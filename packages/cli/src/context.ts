import type { ApiClient } from './client.ts';
import type { Output } from './output.ts';

/** What a command runs with. */
export interface CommandContext {
  client: ApiClient;
  /** Results (and, on a terminal, the live view). */
  stdout: Output;
  /** Messages for a person; the live view when stdout carries --json. */
  stderr: Output;
  json: boolean;
  /** Aborted by Ctrl-C. */
  signal: AbortSignal;
}

/** Prints a value as the one JSON document of --json output. */
export function printJson(ctx: CommandContext, value: unknown): void {
  ctx.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}
