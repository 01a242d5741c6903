import type { RestoreStatus } from '@ec2-restore/contracts';

/**
 * The exit codes scripts can rely on (README.md lists them). A command that does not follow a restore
 * (list, show, points, cancel without --wait) exits 0 when the API answered, 1 when it did not.
 */
export const ExitCode = {
  /** The restore succeeded, or the command did what it was asked. */
  Succeeded: 0,
  /** The restore failed, or the API could not be reached / answered with an error. */
  Failed: 1,
  /** Bad command line, or a request the API refused as invalid (HTTP 400). */
  Usage: 2,
  /** A pre-flight check failed: nothing was created (HTTP 422, or a plan with `ok: false`). */
  PreflightRefused: 3,
  /** The restore was cancelled. */
  Cancelled: 4,
  /** Interrupted (Ctrl-C) while following a restore; the restore itself goes on. */
  Interrupted: 130,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

/** The exit code for a restore that has ended with `status`. */
export function exitCodeForStatus(status: RestoreStatus): ExitCode {
  switch (status) {
    case 'succeeded':
      return ExitCode.Succeeded;
    case 'cancelled':
    case 'cancelling':
      return ExitCode.Cancelled;
    default:
      return ExitCode.Failed;
  }
}

/** An error that ends the command with a message and an exit code. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: ExitCode,
    /** The API's error body, printed as is with --json. */
    readonly body?: unknown,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

/** A bad command line: the message says what is wrong and how to get help. */
export class UsageError extends CliError {
  constructor(message: string) {
    super(message, ExitCode.Usage);
    this.name = 'UsageError';
  }
}
