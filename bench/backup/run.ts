/**
 * Restore-point creation benchmark: `pnpm bench:backup [--size-mib 1024] [--rounds 3] [--settle-seconds 8] [--dir /path]`.
 *
 * Writes an image of random bytes (nothing to deduplicate, no zero blocks), reads it once so it is in
 * the page cache, then times, side by side on the same file:
 * - `sha256sum` and `openssl dgst -sha256` of the image (hashing alone);
 * - `cp` of the image to the same filesystem, and `cp` followed by `sync --file-system` (the copy
 *   made durable, as a restore point is);
 * - creating a restore point from the image into a new folder repository (hash, store, flush),
 *   in this process, then once more into the same repository (every block already stored).
 * Each is measured once per round, the rounds one after another; prints the median, min and max seconds
 * of each and MiB/s at the median, and the ratio of creation's median to `cp`'s.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs, promisify } from 'node:util';
import {
  openBackupRepository,
  rawImageSize,
  readRawImage,
  volumeSizeGiBForBytes,
} from '@ec2-restore/backup-repository';
import { INSTANCE } from '../../test/support/backup.ts';

const run = promisify(execFile);
const MIB = 1024 * 1024;

const { values } = parseArgs({
  options: {
    'size-mib': { type: 'string', default: '1024' },
    rounds: { type: 'string', default: '3' },
    'settle-seconds': { type: 'string', default: '8' },
    dir: { type: 'string' },
  },
});
const sizeMiB = Number(values['size-mib']);
const rounds = Number(values.rounds);
const settleSeconds = Number(values['settle-seconds']);

async function timed(what: () => Promise<unknown>): Promise<number> {
  const started = process.hrtime.bigint();
  await what();
  return Number(process.hrtime.bigint() - started) / 1e9;
}

const shell =
  (command: string, ...args: string[]) =>
  () =>
    run('bash', ['-c', command, 'bash', ...args]);

async function create(image: string, repositoryFolder: string, id: string): Promise<void> {
  const sizeGiB = volumeSizeGiBForBytes(await rawImageSize(image));
  const builder = openBackupRepository(repositoryFolder).createRestorePoint({
    id,
    source: { kind: 'raw-images' },
    instance: INSTANCE,
  });
  await builder.addVolume({ deviceName: '/dev/xvda', sizeGiB, volumeType: 'gp3' }, readRawImage(image));
  await builder.commit();
}

async function main(): Promise<void> {
  const folder = await mkdtemp(join(values.dir ?? tmpdir(), 'bench-backup-'));
  try {
    const image = join(folder, 'image.raw');
    process.stderr.write(`writing ${sizeMiB} MiB of random data to ${image}…\n`);
    await run('bash', [
      '-c',
      `head -c ${sizeMiB * MIB} /dev/urandom > "$1" && sync --file-system "$1"`,
      'bash',
      image,
    ]);
    await run('cat', [image], { maxBuffer: 0 }).catch(() => {}); // warm the page cache
    await shell('cat "$1" > /dev/null', image)();

    // On this virtual machine, writing 1 GiB into the page cache costs ~0.25 s right after 1 GiB was
    // freed and ~2.4 s a few seconds later (measured with `cp`: the guest's free memory is handed back
    // to the host, and taking it again is slow). A measure that happened to follow a deletion looked
    // ten times faster than its neighbour. So every measure starts from the same state, the machine
    // idle for --settle-seconds after the previous one, and each is taken once per round; the medians
    // are compared.
    const copy = join(folder, 'copy.raw');
    const measures: [string, () => Promise<unknown>][] = [
      ['sha256sum', shell('sha256sum "$1" > /dev/null', image)],
      ['openssl dgst -sha256', shell('openssl dgst -sha256 "$1" > /dev/null', image)],
      ['cp', shell('cp "$1" "$2"', image, copy)],
      ['cp + sync --file-system', shell('cp "$1" "$2" && sync --file-system "$2"', image, copy)],
      ['create restore point (new blocks)', () => create(image, join(folder, 'repository'), 'bench-first')],
      ['create again (all blocks stored)', () => create(image, join(folder, 'repository'), 'bench-again')],
    ];
    const seconds = new Map<string, number[]>(measures.map(([what]) => [what, []]));
    for (let round = 1; round <= rounds; round += 1) {
      process.stderr.write(`round ${round} of ${rounds}…\n`);
      for (const [what, measure] of measures) {
        await sleep(settleSeconds * 1000);
        seconds.get(what)!.push(await timed(measure));
        // Each round starts from the same state: no copy, no repository but the one being re-created.
        if (what.startsWith('cp')) await rm(copy);
        await shell('sync --file-system "$1"', folder)();
      }
      await rm(join(folder, 'repository'), { recursive: true, force: true });
    }

    console.log(
      `\nrestore-point creation, ${sizeMiB} MiB of random data, page cache warm, ${folder}, ${rounds} rounds`,
    );
    console.log(`${''.padEnd(36)} ${'median'.padStart(9)} ${'min'.padStart(9)} ${'max'.padStart(9)}`);
    const medians = new Map<string, number>();
    for (const [what, all] of seconds) {
      const sorted = [...all].sort((a, b) => a - b);
      medians.set(what, sorted[Math.floor(sorted.length / 2)]!);
      const cell = (s: number) => `${s.toFixed(2).padStart(7)} s`;
      console.log(
        `${what.padEnd(36)} ${cell(medians.get(what)!)} ${cell(sorted[0]!)} ${cell(sorted.at(-1)!)}` +
          `   median ${(sizeMiB / medians.get(what)!).toFixed(0).padStart(5)} MiB/s`,
      );
    }
    const createSeconds = medians.get('create restore point (new blocks)')!;
    const ratio = medians.get('cp')! / createSeconds;
    console.log(
      `\ncreation / cp (medians): ${ratio.toFixed(2)}x (target >= 0.5x) ${ratio >= 0.5 ? 'MET' : 'MISSED'}`,
    );
    console.log(
      `creation / (cp + sync) (medians): ${(medians.get('cp + sync --file-system')! / createSeconds).toFixed(2)}x`,
    );
  } finally {
    await rm(folder, { recursive: true, force: true });
  }
}

await main();
