/**
 * `pnpm demo`: with the embedded default running (`bash scripts/start.sh` in another terminal), restores the
 * demo instance into the demo target account and shows each step and the bytes restored, to the end.
 */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { type DemoScenario, demoRestoreRequest } from '@ec2-restore/demo';

const dataDir = resolve(process.env.EC2_RESTORE_DATA_DIR ?? join(import.meta.dirname, '..', '.data'));

interface Embedded {
  apiUrl: string;
  token: string;
  restorePointId?: string;
  scenario?: DemoScenario;
}

function readEmbedded(): Embedded {
  try {
    return JSON.parse(readFileSync(join(dataDir, 'embedded.json'), 'utf8')) as Embedded;
  } catch {
    console.error(
      `No running embedded default found (${join(dataDir, 'embedded.json')}): start it first with bash scripts/start.sh`,
    );
    process.exit(1);
  }
}

function mib(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

async function main(): Promise<void> {
  const { apiUrl, token, restorePointId, scenario } = readEmbedded();
  if (!scenario || !restorePointId) {
    console.error('The running ec2-restore is not on the emulator with demo data: nothing to demo.');
    process.exit(1);
  }
  const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
  const body = demoRestoreRequest(
    scenario,
    restorePointId,
    process.argv.includes('--worker-volume') ? 'worker-volume' : 'ebs-direct',
  );
  console.log(
    `POST ${apiUrl}/v1/restores  (restore point ${restorePointId} → account ${scenario.target.accountId})`,
  );
  const created = await fetch(`${apiUrl}/v1/restores`, {
    method: 'POST',
    headers,
    body: JSON.stringify(body),
  });
  const restore = (await created.json()) as { id?: string; mode?: string; error?: unknown };
  if (created.status !== 202 || !restore.id) {
    console.error(`refused (${created.status}):\n${JSON.stringify(restore, null, 2)}`);
    process.exit(1);
  }
  console.log(`accepted: restore ${restore.id} (${restore.mode})`);

  const events = await fetch(`${apiUrl}/v1/restores/${restore.id}/events`, { headers });
  if (!events.ok || !events.body) throw new Error(`GET events answered ${events.status}`);
  const decoder = new TextDecoder();
  let buffer = '';
  let lastPercent = -1;
  for await (const chunk of events.body) {
    buffer += decoder.decode(chunk as Uint8Array, { stream: true });
    let boundary = buffer.indexOf('\n\n');
    while (boundary >= 0) {
      const frame = buffer.slice(0, boundary);
      buffer = buffer.slice(boundary + 2);
      boundary = buffer.indexOf('\n\n');
      const type = /^event: (.*)$/m.exec(frame)?.[1];
      const data = /^data: (.*)$/m.exec(frame)?.[1];
      if (!type || !data) continue;
      const event = JSON.parse(data);
      if (type === 'step') console.log(`  step ${event.name}: ${event.status} (attempt ${event.attempts})`);
      if (type === 'status') console.log(`  status: ${event.status}`);
      if (type === 'progress') {
        const percent = event.total > 0 ? Math.floor((100 * event.totalDone) / event.total) : 100;
        if (percent !== lastPercent && (percent % 10 === 0 || percent === 100)) {
          lastPercent = percent;
          console.log(`  restored ${mib(event.totalDone)} of ${mib(event.total)} (${percent}%)`);
        }
      }
      if (type === 'end') {
        console.log(`\nrestore ${restore.id} ${event.status}`);
        console.log(JSON.stringify(event.result ?? event.error, null, 2));
        process.exit(event.status === 'succeeded' ? 0 : 1);
      }
    }
  }
}

await main();
