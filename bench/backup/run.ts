/**
 * Restore-point creation benchmark: `pnpm bench:backup [--size-mib 1024] [--dir /path]`.
 *
 * Writes an image of random bytes (nothing to deduplicate, no zero blocks), reads it once so it is in
 * the page cache, then times, side by side on the same file:
 * - `sha256sum` and `openssl dgst -sha256` of the image (hashing alone);
 * - `cp` of the image to the same filesystem, and `cp` followed by `sync --file-system` (the copy
 *   made durable, as a restore point is);
 * - creating a restore point from the image into a new folder repository (hash, store, flush),
 *   in this process, then once more into the same repository (every block already stored).
 * Prints seconds and MiB/s of each, and the ratio of creation to `cp`.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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
    dir: { type: 'string' },
  },
});
const sizeMiB = Number(values['size-mib']);

async function timed(what: () => Promise<unknown>): Promise<number> {
  const started = process.hrtime.bigint();
  await what();
  return Number(process.hrtime.bigint() - started) / 1e9;
}

const shell =
  (command: string, ...args: string[]) =>
  () =>
    run('bash', ['-c', command, 'bash', ...args]);

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

    const rows: [string, number][] = [];
    rows.push(['sha256sum', await timed(shell('sha256sum "$1" > /dev/null', image))]);
    rows.push(['openssl dgst -sha256', await timed(shell('openssl dgst -sha256 "$1" > /dev/null', image))]);
    const copy = join(folder, 'copy.raw');
    const cpSeconds = await timed(shell('cp "$1" "$2"', image, copy));
    rows.push(['cp', cpSeconds]);
    await rm(copy);
    await shell('sync --file-system "$1"', folder)();
    const cpSyncSeconds = await timed(shell('cp "$1" "$2" && sync --file-system "$2"', image, copy));
    rows.push(['cp + sync --file-system', cpSyncSeconds]);
    await rm(copy);
    await shell('sync --file-system "$1"', folder)();

    const repository = openBackupRepository(join(folder, 'repository'));
    const sizeGiB = volumeSizeGiBForBytes(await rawImageSize(image));
    const create = async (id: string) => {
      const builder = repository.createRestorePoint({
        id,
        source: { kind: 'raw-images' },
        instance: INSTANCE,
      });
      await builder.addVolume({ deviceName: '/dev/xvda', sizeGiB, volumeType: 'gp3' }, readRawImage(image));
      await builder.commit();
    };
    const createSeconds = await timed(() => create('bench-first'));
    rows.push(['create restore point (new blocks)', createSeconds]);
    rows.push(['create again (all blocks stored)', await timed(() => create('bench-again'))]);

    console.log(`\nrestore-point creation, ${sizeMiB} MiB of random data, page cache warm, ${folder}`);
    for (const [what, seconds] of rows) {
      console.log(
        `${what.padEnd(36)} ${seconds.toFixed(2).padStart(7)} s ${(sizeMiB / seconds).toFixed(0).padStart(6)} MiB/s`,
      );
    }
    const ratio = cpSeconds / createSeconds;
    console.log(`\ncreation / cp: ${ratio.toFixed(2)}x (target >= 0.5x) ${ratio >= 0.5 ? 'MET' : 'MISSED'}`);
    console.log(`creation / (cp + sync): ${(cpSyncSeconds / createSeconds).toFixed(2)}x`);
  } finally {
    await rm(folder, { recursive: true, force: true });
  }
}

await main();
