import type { Check, RestoreRequestInput, RestoreStatus } from '@ec2-restore/contracts';
import { ApiRequestError } from './client.ts';
import { type CommandContext, printJson } from './context.ts';
import { ExitCode } from './exit-codes.ts';
import { followRestore } from './follow.ts';
import {
  formatPlan,
  formatRefusal,
  formatRestore,
  formatRestoreList,
  formatRestorePoint,
  formatRestorePoints,
} from './format.ts';

/** plan: the dry run. Exit 0 when every check passes, 3 when one fails. */
export async function planCommand(ctx: CommandContext, request: RestoreRequestInput): Promise<ExitCode> {
  const plan = await ctx.client.plan(request);
  if (ctx.json) printJson(ctx, plan);
  else ctx.stdout.write(`${formatPlan(plan, ctx.stdout.color)}\n`);
  return plan.ok ? ExitCode.Succeeded : ExitCode.PreflightRefused;
}

export interface RestoreCommandOptions {
  detach: boolean;
  idempotencyKey?: string;
}

/**
 * restore: start it (the API runs the pre-flight checks first), then follow it to the end. A refusal
 * prints the failing checks with their remedies and exits 3; nothing was created.
 */
export async function restoreCommand(
  ctx: CommandContext,
  request: RestoreRequestInput,
  options: RestoreCommandOptions,
): Promise<ExitCode> {
  let restore: Awaited<ReturnType<typeof ctx.client.createRestore>>;
  try {
    restore = await ctx.client.createRestore(request, options.idempotencyKey);
  } catch (error) {
    if (error instanceof ApiRequestError && error.error?.code === 'preflight_failed') {
      const checks = (error.error.details as { checks?: Check[] }).checks ?? [];
      if (ctx.json) printJson(ctx, error.body);
      else ctx.stdout.write(`${formatRefusal(checks, ctx.stdout.color)}\n`);
      return ExitCode.PreflightRefused;
    }
    throw error;
  }
  if (options.detach) {
    if (ctx.json) printJson(ctx, restore);
    else {
      ctx.stdout.write(
        `accepted: restore ${restore.id} (${restore.mode}, ${restore.request.dataPath})\n` +
          `follow it: ec2-restore watch ${restore.id}\n`,
      );
    }
    return ExitCode.Succeeded;
  }
  if (!ctx.json)
    ctx.stderr.write(`accepted: restore ${restore.id}; Ctrl-C stops watching, not the restore\n`);
  return followRestore(ctx, restore);
}

/** watch ID: follow a restore to its end; exit with its outcome. */
export async function watchCommand(ctx: CommandContext, id: string): Promise<ExitCode> {
  return followRestore(ctx, await ctx.client.getRestore(id));
}

export async function listCommand(
  ctx: CommandContext,
  filter: { status?: RestoreStatus; limit?: number },
): Promise<ExitCode> {
  const restores = await ctx.client.listRestores(filter);
  if (ctx.json) printJson(ctx, { restores });
  else ctx.stdout.write(`${formatRestoreList(restores)}\n`);
  return ExitCode.Succeeded;
}

export async function showCommand(ctx: CommandContext, id: string): Promise<ExitCode> {
  const restore = await ctx.client.getRestore(id);
  if (ctx.json) printJson(ctx, restore);
  else ctx.stdout.write(`${formatRestore(restore, ctx.stdout.color)}\n`);
  return ExitCode.Succeeded;
}

/** cancel ID: ask the API to cancel; with --wait, follow until it has stopped (exit 4 when cancelled). */
export async function cancelCommand(ctx: CommandContext, id: string, wait: boolean): Promise<ExitCode> {
  const restore = await ctx.client.cancelRestore(id);
  if (wait) return followRestore(ctx, restore);
  if (ctx.json) printJson(ctx, restore);
  else ctx.stdout.write(`restore ${restore.id}: ${restore.status}; what it created is being cleaned up\n`);
  return ExitCode.Succeeded;
}

export async function pointsCommand(ctx: CommandContext, id: string | undefined): Promise<ExitCode> {
  if (id !== undefined) {
    const point = await ctx.client.getRestorePoint(id);
    if (ctx.json) printJson(ctx, point);
    else ctx.stdout.write(`${formatRestorePoint(point)}\n`);
    return ExitCode.Succeeded;
  }
  const restorePoints = await ctx.client.listRestorePoints();
  if (ctx.json) printJson(ctx, { restorePoints });
  else ctx.stdout.write(`${formatRestorePoints(restorePoints)}\n`);
  return ExitCode.Succeeded;
}
