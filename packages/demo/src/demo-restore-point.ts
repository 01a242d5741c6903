import { createHash } from 'node:crypto';
import { type BackupRepository, BLOCK_SIZE, type SourceBlock } from '@ec2-restore/backup-repository';

export interface DemoVolume {
  deviceName: string;
  sizeGiB: number;
  /** Blocks holding data; every other block is zero. */
  dataBlocks: number[];
}

/** The demo instance: a root volume and a data volume, mostly empty (as real disks are). */
export const DEMO_VOLUMES: DemoVolume[] = [
  { deviceName: '/dev/xvda', sizeGiB: 1, dataBlocks: [0, 1, 2, 3, 100, 101, 1000, 2047] },
  { deviceName: '/dev/xvdb', sizeGiB: 1, dataBlocks: [0, 512, 513, 2000] },
];

/**
 * The content of a demo block: deterministic from (seed, device, index), so a test can recompute what a
 * restored volume must hold without keeping the image.
 */
export function demoBlockData(seed: string, deviceName: string, index: number): Buffer {
  const block = Buffer.alloc(BLOCK_SIZE);
  let counter = 0;
  for (let offset = 0; offset < BLOCK_SIZE; offset += 32) {
    createHash('sha256').update(`${seed}:${deviceName}:${index}:${counter++}`).digest().copy(block, offset);
  }
  return block;
}

async function* demoBlocks(seed: string, volume: DemoVolume): AsyncGenerator<SourceBlock> {
  for (const index of [...volume.dataBlocks].sort((a, b) => a - b)) {
    yield { index, data: demoBlockData(seed, volume.deviceName, index) };
  }
}

/** Writes the demo restore point (a small two-volume Linux instance) into `repository`. */
export async function createDemoRestorePoint(
  repository: BackupRepository,
  options: { id?: string; seed?: string; volumes?: DemoVolume[] } = {},
): Promise<{ id: string; seed: string; volumes: DemoVolume[] }> {
  const seed = options.seed ?? 'ec2-restore-demo';
  const volumes = options.volumes ?? DEMO_VOLUMES;
  const builder = repository.createRestorePoint({
    ...(options.id ? { id: options.id } : {}),
    description: 'ec2-restore demo: a small Linux instance with a root and a data volume',
    source: { kind: 'raw-images' },
    instance: {
      instanceType: 't3.micro',
      platform: 'linux',
      architecture: 'x86_64',
      rootDeviceName: volumes[0]!.deviceName,
      network: { securityGroupIds: [] },
      tags: { Name: 'demo-web-1', team: 'platform' },
    },
  });
  for (const volume of volumes) {
    await builder.addVolume(
      { deviceName: volume.deviceName, sizeGiB: volume.sizeGiB, volumeType: 'gp3' },
      demoBlocks(seed, volume),
    );
  }
  const manifest = await builder.commit();
  return { id: manifest.id, seed, volumes };
}
