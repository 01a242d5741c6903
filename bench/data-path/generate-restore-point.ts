import { randomFillSync } from 'node:crypto';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import {
  BLOCK_SIZE,
  BLOCKS_PER_GIB,
  openBackupRepository,
  type SourceBlock,
} from '@ec2-restore/backup-repository';

const GIB = 1024 ** 3;

/**
 * Writes `<dir>/repo` (a folder repository) with restore point `id` and `<dir>/<id>.img` (the same bytes,
 * sparse). Every `zeroEvery`th block is zero (0: none); the others are random (unique, so content
 * addressing cannot fold them).
 */
export async function generate(dir: string, id: string, gib: number, zeroEvery = 3): Promise<string> {
  const repository = openBackupRepository(join(dir, 'repo'));
  const imagePath = join(dir, `${id}.img`);
  const image = await open(imagePath, 'w');
  await image.truncate(gib * GIB);
  const blockCount = gib * BLOCKS_PER_GIB;
  const buffer = Buffer.allocUnsafe(BLOCK_SIZE);
  async function* blocks(): AsyncGenerator<SourceBlock> {
    for (let index = 0; index < blockCount; index++) {
      if (zeroEvery > 0 && index % zeroEvery === zeroEvery - 1) continue;
      randomFillSync(buffer);
      await image.write(buffer, 0, BLOCK_SIZE, index * BLOCK_SIZE);
      yield { index, data: buffer };
    }
  }
  const builder = repository.createRestorePoint({
    id,
    source: { kind: 'raw-images' },
    instance: {
      instanceType: 'm6i.large',
      platform: 'linux',
      architecture: 'x86_64',
      rootDeviceName: '/dev/xvda',
      network: {},
    },
  });
  await builder.addVolume({ deviceName: '/dev/xvda', sizeGiB: gib, volumeType: 'gp3' }, blocks());
  await builder.commit();
  await image.close();
  return imagePath;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [dir, id, gib] = process.argv.slice(2);
  console.log(await generate(dir!, id!, Number(gib ?? 1)));
}
