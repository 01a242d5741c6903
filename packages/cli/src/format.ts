import type { Check, PlanResult, Restore, RestorePointSummary } from '@ec2-restore/contracts';
import { terminalRestoreStatuses } from '@ec2-restore/contracts/statuses';
import { styles } from './output.ts';
import { formatBytes, formatDuration } from './units.ts';

type Styles = ReturnType<typeof styles>;

/** One check and, when it did not pass, its remedy: summary, policy statements, commands, links. */
export function formatCheck(check: Check, s: Styles): string[] {
  const mark = check.status === 'pass' ? s.green('✓') : check.status === 'warn' ? s.yellow('!') : s.red('✗');
  const lines = [`${mark} ${check.id}: ${check.message}`];
  const remedy = check.status === 'pass' ? null : check.remedy;
  if (remedy) {
    lines.push(`    ${s.bold('fix:')} ${remedy.summary}`);
    if (remedy.policy) {
      lines.push(`    add to ${remedy.policy.attachTo}:`);
      const json = JSON.stringify({ Statement: remedy.policy.statements }, null, 2);
      for (const line of json.split('\n')) lines.push(`      ${line}`);
    }
    for (const command of remedy.commands ?? []) lines.push(`    $ ${command}`);
    for (const link of remedy.links ?? []) lines.push(`    see ${link}`);
  }
  return lines;
}

/** The checks, failing ones first with their remedies. */
export function formatChecks(checks: readonly Check[], color: boolean): string {
  const s = styles(color);
  const order = { fail: 0, warn: 1, pass: 2 } as const;
  const sorted = [...checks].sort((a, b) => order[a.status] - order[b.status]);
  return sorted.flatMap((check) => formatCheck(check, s)).join('\n');
}

export function formatPlan(plan: PlanResult, color: boolean): string {
  const s = styles(color);
  const failed = plan.checks.filter((check) => check.status === 'fail').length;
  const lines = [
    plan.ok
      ? s.green(`plan: every check passed (${plan.mode ?? 'mode unknown'}); nothing was created`)
      : s.red(`plan: ${failed} check(s) failed; a restore would be refused. Nothing was created.`),
    '',
    'Checks:',
    formatChecks(plan.checks, color),
    '',
    'Steps:',
    ...plan.steps.map(
      (step, index) =>
        `  ${String(index + 1).padStart(2)}. ${step.name}${step.deviceName ? ` ${step.deviceName}` : ''} — ${step.description} (${step.principal}, ${step.accountId ?? '?'} ${step.region})`,
    ),
    '',
    'Resources it creates:',
    ...plan.resources.map(
      (resource) =>
        `  - ${resource.kind}${resource.deviceName ? ` ${resource.deviceName}` : ''}${resource.sizeGiB ? ` ${resource.sizeGiB} GiB` : ''}${resource.temporary ? s.dim(' (temporary, removed at the end)') : ''}: ${resource.description}`,
    ),
  ];
  return lines.join('\n');
}

/** The refusal of POST /v1/restores (422 preflight_failed): which checks failed and how to fix them. */
export function formatRefusal(checks: readonly Check[], color: boolean): string {
  const s = styles(color);
  const failing = checks.filter((check) => check.status === 'fail');
  return [
    s.red(`refused: ${failing.length} pre-flight check(s) failed; nothing was created.`),
    '',
    formatChecks(
      checks.filter((check) => check.status !== 'pass'),
      color,
    ),
    '',
    'Fix the above, then run the same command again (ec2-restore plan shows every check).',
  ].join('\n');
}

function elapsed(restore: Restore): string {
  const seconds = (Date.parse(restore.updatedAt) - Date.parse(restore.createdAt)) / 1000;
  return Number.isFinite(seconds) ? formatDuration(seconds) : '?';
}

/** The end of a restore: the instance and volumes it made, or why it failed. */
export function formatOutcome(restore: Restore, color: boolean): string {
  const s = styles(color);
  const lines: string[] = [];
  if (restore.status === 'succeeded') {
    lines.push(s.green(`✓ restore ${restore.id} succeeded in ${elapsed(restore)}`));
  } else if (restore.status === 'cancelled' || restore.status === 'cancelling') {
    lines.push(s.yellow(`⊘ restore ${restore.id} ${restore.status} after ${elapsed(restore)}`));
  } else if (restore.status === 'failed') {
    lines.push(s.red(`✗ restore ${restore.id} failed after ${elapsed(restore)}`));
  } else {
    lines.push(`restore ${restore.id} is ${restore.status}`);
  }
  if (restore.result) {
    const { result } = restore;
    lines.push(
      `  instance  ${result.instanceId ?? '(none: volumes only)'}  in account ${result.accountId}, ${result.region}`,
    );
    for (const volume of result.volumes) {
      lines.push(
        `  volume    ${volume.deviceName}  ${volume.volumeId}  ${volume.sizeGiB} GiB  key ${volume.kmsKeyId}`,
      );
    }
  }
  if (restore.error) {
    const { error } = restore;
    lines.push(`  error     ${error.code} (${error.category})${error.step ? ` in step ${error.step}` : ''}`);
    lines.push(`            ${error.message}`);
    if (error.awsRequestId) lines.push(`            AWS request id ${error.awsRequestId}`);
  }
  return lines.join('\n');
}

/** GET /v1/restores/{id} for a person. */
export function formatRestore(restore: Restore, color: boolean): string {
  const s = styles(color);
  const { request } = restore;
  const lines = [
    `${s.bold(`restore ${restore.id}`)}  ${restore.status}`,
    `  mode      ${restore.mode}, ${request.dataPath}`,
    `  from      ${request.restorePointId}`,
    `  to        account ${request.target.accountId}, ${request.target.region}, key ${request.target.kmsKeyId}`,
    `  created   ${restore.createdAt}   updated ${restore.updatedAt}`,
    `  progress  ${formatBytes(restore.progress.bytesDone)} / ${formatBytes(restore.progress.bytesTotal)}`,
  ];
  for (const step of restore.steps) {
    lines.push(
      `  step      ${step.name.padEnd(22)} ${step.status}${step.attempts > 1 ? ` (attempt ${step.attempts})` : ''}`,
    );
  }
  if (terminalRestoreStatuses.includes(restore.status)) {
    lines.push('', formatOutcome(restore, color));
  }
  return lines.join('\n');
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  return rows
    .map((row) =>
      row
        .map((cell, column) => cell.padEnd(widths[column]!))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

export function formatRestoreList(restores: readonly Restore[]): string {
  if (restores.length === 0) return 'no restores';
  return table([
    ['ID', 'STATUS', 'MODE', 'RESTORE POINT', 'TARGET', 'PROGRESS', 'CREATED'],
    ...restores.map((restore) => [
      restore.id,
      restore.status,
      restore.mode,
      restore.request.restorePointId,
      `${restore.request.target.accountId}/${restore.request.target.region}`,
      `${formatBytes(restore.progress.bytesDone)} / ${formatBytes(restore.progress.bytesTotal)}`,
      restore.createdAt,
    ]),
  ]);
}

export function formatRestorePoints(points: readonly RestorePointSummary[]): string {
  if (points.length === 0) return 'no restore points in the repository';
  return table([
    ['ID', 'CREATED', 'INSTANCE', 'VOLUMES', 'SIZE', 'DATA'],
    ...points.map((point) => [
      point.id,
      point.createdAt,
      String(point.instance.instanceType ?? '?'),
      point.volumes.map((volume) => `${volume.deviceName}:${volume.sizeGiB}GiB`).join(' '),
      formatBytes(point.totalBytes),
      formatBytes(point.dataBytes),
    ]),
  ]);
}

export function formatRestorePoint(point: RestorePointSummary): string {
  return [
    `restore point ${point.id}  created ${point.createdAt}`,
    ...(point.description ? [`  ${point.description}`] : []),
    `  instance  ${JSON.stringify(point.instance)}`,
    ...point.volumes.map(
      (volume) =>
        `  volume    ${volume.deviceName}  ${volume.sizeGiB} GiB  ${volume.volumeType}${volume.root ? '  (root)' : ''}`,
    ),
    `  size      ${formatBytes(point.totalBytes)} (${formatBytes(point.dataBytes)} of data)`,
  ].join('\n');
}
