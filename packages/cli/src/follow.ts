import type { Restore } from '@ec2-restore/contracts';
import type { CommandContext } from './context.ts';
import { printJson } from './context.ts';
import { followRestoreEvents } from './events.ts';
import { type ExitCode, exitCodeForStatus } from './exit-codes.ts';
import { formatOutcome } from './format.ts';
import {
  LineProgressView,
  type ProgressView,
  RestoreProgress,
  SilentProgressView,
  TerminalProgressView,
} from './progress-view.ts';

/**
 * The live view for this run: a redrawn view on a terminal, plain lines into a pipe; with --json the
 * view goes to stderr when that is a terminal, so stdout carries only the JSON document.
 */
function chooseView(ctx: CommandContext): ProgressView {
  if (ctx.json) return ctx.stderr.isTty ? new TerminalProgressView(ctx.stderr) : new SilentProgressView();
  return ctx.stdout.isTty ? new TerminalProgressView(ctx.stdout) : new LineProgressView(ctx.stdout);
}

/**
 * Follows a restore from its event stream to the end, then prints its outcome (or, with --json, the
 * final restore resource) and returns the exit code of its status.
 */
export async function followRestore(ctx: CommandContext, restore: Restore): Promise<ExitCode> {
  const view = chooseView(ctx);
  const progress = new RestoreProgress(restore);
  view.start(progress);
  try {
    await followRestoreEvents(
      ctx.client,
      restore.id,
      (event) => {
        progress.apply(event);
        view.update(progress, event);
      },
      {
        signal: ctx.signal,
        onReconnect: (attempt, reason) =>
          view.note(`event stream lost (${reason}); reconnecting (${attempt})…`),
      },
    );
  } finally {
    view.stop(progress);
  }
  // The end event carries the status and result; the resource adds the timings and steps.
  const final = await ctx.client.getRestore(restore.id);
  if (ctx.json) printJson(ctx, final);
  else ctx.stdout.write(`\n${formatOutcome(final, ctx.stdout.color)}\n`);
  return exitCodeForStatus(final.status);
}
