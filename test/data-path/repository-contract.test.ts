import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  BackupRepository,
  BLOCK_SIZE,
  blockKey,
  FolderObjectStore,
  GIB,
  type ObjectStore,
  RestorePointNotFoundError,
  readRawImage,
  S3ObjectStore,
  sha256Hex,
  verifyRestorePoint,
} from '@ec2-restore/backup-repository';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  blockOfFile,
  expectBlockIntegrityError,
  INSTANCE,
  newAccount,
  newBucket,
  SDK_RETRIES,
  sparseImage,
  tempDir,
} from '../support/index.ts';

// One contract, two backends: the local folder (embedded default) and S3 on the emulator.
interface Backend {
  name: string;
  open(): Promise<{ store: ObjectStore; close: () => Promise<void> }>;
}

const backends: Backend[] = [
  {
    name: 'folder',
    async open() {
      const dir = await tempDir();
      return { store: new FolderObjectStore(join(dir.path, 'repo')), close: dir.remove };
    },
  },
  {
    name: 's3',
    async open() {
      const account = newAccount(SDK_RETRIES);
      const { aws } = account;
      const bucket = await newBucket(account);
      return {
        store: new S3ObjectStore(aws.s3, bucket, 'backups/prod'),
        close: async () => aws.destroy(),
      };
    },
  },
];

describe.each(backends)('$name backend', (backend) => {
  let store: ObjectStore;
  let close: () => Promise<void>;
  let work: Awaited<ReturnType<typeof tempDir>>;

  beforeAll(async () => {
    ({ store, close } = await backend.open());
    work = await tempDir();
  });
  afterAll(async () => {
    await close();
    await work.remove();
  });

  describe('object store', () => {
    it('reads back what was put, and says undefined for what is not there', async () => {
      const body = randomBytes(1000);
      await store.put('a/b/object', body);
      expect(await store.exists('a/b/object')).toBe(true);
      expect(await store.getBytes('a/b/object')).toEqual(body);
      expect(await store.getBytes('a/b/missing')).toBeUndefined();
      expect(await store.exists('a/b/missing')).toBe(false);
      expect(await store.readInto('a/b/missing', Buffer.alloc(10))).toBeUndefined();
      expect(await store.getStream('a/b/missing')).toBeUndefined();
    });

    // Shared memory is what the writers' block buffers are (a folder store fills it on a reader thread).
    it.each([
      ['a buffer', Buffer.alloc],
      ['shared memory', inSharedMemory],
    ])('readInto fills %s and reports the real length of a larger object', async (_kind, alloc) => {
      const body = randomBytes(3000);
      await store.put('sized', body);
      const exact = alloc(3000);
      expect(await store.readInto('sized', exact)).toBe(3000);
      expect(exact).toEqual(body);
      const small = alloc(1000);
      expect(await store.readInto('sized', small)).toBeGreaterThan(1000);
      expect(small).toEqual(body.subarray(0, 1000));
      const large = alloc(5000);
      expect(await store.readInto('sized', large)).toBe(3000);
      expect(await store.readInto('sized', alloc(5000), 3000)).toBe(3000);
      expect(await store.readInto('a/b/missing', alloc(10))).toBeUndefined();
      // Many at once (a folder store answers them in batches), each into its own part of one memory.
      const bodies = await Promise.all(
        Array.from({ length: 20 }, async (_, i) => {
          const one = randomBytes(100 + i);
          await store.put(`many/${i}`, one);
          return one;
        }),
      );
      const into = alloc(20 * 200);
      const lengths = await Promise.all(
        bodies.map((_, i) => store.readInto(`many/${i}`, into.subarray(i * 200, (i + 1) * 200))),
      );
      expect(lengths).toEqual(bodies.map((b) => b.length));
      expect(bodies.map((b, i) => into.subarray(i * 200, i * 200 + b.length))).toEqual(bodies);
    });

    it('streams objects, uploads files, lists children and deletes', async () => {
      const file = join(work.path, 'upload.bin');
      const body = randomBytes(200_000);
      await writeFile(file, body);
      await store.putFile('dir/one', file);
      await store.put('dir/two', Buffer.from('2'));
      await store.put('dir/sub/three', Buffer.from('3'));
      const chunks: Buffer[] = [];
      for await (const chunk of (await store.getStream('dir/one'))!) chunks.push(chunk as Buffer);
      expect(Buffer.concat(chunks)).toEqual(body);
      expect(await store.listChildren('dir/')).toEqual(['one', 'sub', 'two']);
      expect(await store.listChildren('nothing-here/')).toEqual([]);
      await store.delete('dir/two');
      expect(await store.listChildren('dir/')).toEqual(['one', 'sub']);
    });

    it('a batch: objects read back whole after commit; aborted ones never appear', async () => {
      const batch = store.startBatch();
      const one = randomBytes(BLOCK_SIZE);
      const two = randomBytes(1000);
      await batch.put('batch/one', one);
      await batch.put('batch/two', two);
      expect(batch.has('batch/one')).toBe(true);
      expect(batch.size).toBe(2);
      await batch.commit();
      expect(batch.size).toBe(0);
      expect(await store.getBytes('batch/one')).toEqual(one);
      expect(await store.getBytes('batch/two')).toEqual(two);

      const dropped = store.startBatch();
      await dropped.put('batch/dropped', randomBytes(10));
      await dropped.abort();
      await dropped.commit();
      if (backend.name === 'folder') {
        // Nothing of an aborted batch is left, not even its temporary file.
        expect(await store.exists('batch/dropped')).toBe(false);
        expect(await store.listChildren('batch/')).toEqual(['one', 'two']);
      }
    });
  });

  describe('backup repository', () => {
    const dataBlocks = [0, 1, 7, 600, 2047];
    let imagePath: string;
    let repository: BackupRepository;
    let restorePointId: string;

    beforeAll(async () => {
      repository = new BackupRepository(store);
      // 1 GiB volume; the image ends 1000 bytes short of it (the tail pads with zeros). Blocks 1 and 600
      // hold the same bytes, so they are stored once.
      const shared = randomBytes(BLOCK_SIZE);
      imagePath = await sparseImage(join(work.path, `${backend.name}.img`), GIB - 1000, [
        { index: 0 },
        { index: 1, data: shared },
        { index: 7 },
        { index: 600, data: shared },
        { index: 2047, data: randomBytes(BLOCK_SIZE - 1000) },
      ]);
      const builder = repository.createRestorePoint({
        source: { kind: 'raw-images' },
        instance: INSTANCE,
        description: 'contract',
      });
      await builder.addVolume(
        { deviceName: '/dev/xvda', sizeGiB: 1, volumeType: 'gp3', iops: 3000, throughput: 125 },
        readRawImage(imagePath),
      );
      restorePointId = (await builder.commit()).id;
    });

    it('lists the restore point with its summary', async () => {
      const list = await repository.listRestorePoints();
      expect(list.map((p) => p.id)).toContain(restorePointId);
      const summary = await repository.getSummary(restorePointId);
      expect(summary).toMatchObject({
        id: restorePointId,
        description: 'contract',
        instance: { instanceType: 't3.micro', rootDeviceName: '/dev/xvda', tags: { Name: 'web-1' } },
        volumes: [
          { deviceName: '/dev/xvda', sizeGiB: 1, volumeType: 'gp3', iops: 3000, throughput: 125, root: true },
        ],
        totalBytes: GIB,
        dataBytes: dataBlocks.length * BLOCK_SIZE,
      });
    });

    it('the catalogue reads each manifest once; restore points written elsewhere appear after catalogueMaxAgeMs', async () => {
      // A second repository object over the same store: another process (the API) reading the catalogue.
      const manifestReads: string[] = [];
      const counting = new Proxy(store, {
        get(target, property, receiver) {
          if (property === 'getBytes') {
            return (key: string) => {
              if (key.endsWith('/manifest.json')) manifestReads.push(key);
              return target.getBytes(key);
            };
          }
          const value = Reflect.get(target, property, receiver);
          return typeof value === 'function' ? value.bind(target) : value;
        },
      });
      const api = new BackupRepository(counting);
      api.catalogueMaxAgeMs = 60_000;
      const first = await api.listRestorePoints();
      expect(first.map((p) => p.id)).toContain(restorePointId);
      const readsOfFirstList = manifestReads.length;
      expect(readsOfFirstList).toBe(first.length);
      expect(await api.listRestorePoints()).toEqual(first);
      expect(manifestReads.length).toBe(readsOfFirstList);

      const other = repository.createRestorePoint({ source: { kind: 'raw-images' }, instance: INSTANCE });
      await other.addVolume(
        { deviceName: '/dev/xvda', sizeGiB: 1, volumeType: 'gp3' },
        readRawImage(imagePath),
      );
      const created = await other.commit();
      // Within the catalogue's age the index is served as it was…
      expect((await api.listRestorePoints()).map((p) => p.id)).not.toContain(created.id);
      // …and once it is older, one listing finds the new restore point and reads only its manifest.
      api.catalogueMaxAgeMs = 0;
      expect((await api.listRestorePoints()).map((p) => p.id)).toContain(created.id);
      expect(manifestReads.slice(readsOfFirstList)).toEqual([`restore-points/${created.id}/manifest.json`]);
    });

    it('a restore point created while the catalogue is being listed is listed at the next call', async () => {
      // The listing is taken, then held until the restore point is committed through the same object.
      let release = (): void => undefined;
      let hold: Promise<void> | undefined;
      const held = new Proxy(store, {
        get(target, property, receiver) {
          if (property === 'listChildren') {
            return async (prefix: string) => {
              const listed = await target.listChildren(prefix);
              if (hold) await hold;
              return listed;
            };
          }
          const value = Reflect.get(target, property, receiver);
          return typeof value === 'function' ? value.bind(target) : value;
        },
      });
      const backup = new BackupRepository(held);
      backup.catalogueMaxAgeMs = 60_000;
      await backup.listRestorePoints();
      const newRestorePoint = async () => {
        const builder = backup.createRestorePoint({ source: { kind: 'raw-images' }, instance: INSTANCE });
        await builder.addVolume(
          { deviceName: '/dev/xvda', sizeGiB: 1, volumeType: 'gp3' },
          readRawImage(imagePath),
        );
        return (await builder.commit()).id;
      };
      await newRestorePoint(); // the catalogue is stale now
      hold = new Promise<void>((resolve) => {
        release = resolve;
      });
      const listing = backup.listRestorePoints();
      const created = await newRestorePoint();
      release();
      hold = undefined;
      expect(
        (await listing).map((p) => p.id),
        'taken before the commit',
      ).not.toContain(created);
      expect((await backup.listRestorePoints()).map((p) => p.id)).toContain(created);
      expect((await backup.getSummary(created)).id).toBe(created);
    });

    it('streams every block: data blocks verified and equal to the image, the rest marked zero', async () => {
      const reader = await repository.openVolume(restorePointId, '/dev/xvda');
      const buffer = Buffer.alloc(BLOCK_SIZE);
      const seen: number[] = [];
      let count = 0;
      for await (const ref of reader.blocks()) {
        count += 1;
        if (ref.sha256 === null) continue;
        seen.push(ref.index);
        const data = await reader.readBlock({ index: ref.index, sha256: ref.sha256 }, buffer);
        expect(data.equals(await blockOfFile(imagePath, ref.index))).toBe(true);
      }
      expect(count).toBe(2048);
      expect(seen).toEqual(dataBlocks);
    });

    it('stores identical blocks once, also across restore points', async () => {
      const blocksBefore = await countBlocks(store);
      expect(blocksBefore).toBe(dataBlocks.length - 1);
      const again = repository.createRestorePoint({ source: { kind: 'raw-images' }, instance: INSTANCE });
      await again.addVolume(
        { deviceName: '/dev/xvda', sizeGiB: 2, volumeType: 'gp3' },
        readRawImage(imagePath),
      );
      const second = await again.commit();
      expect(await countBlocks(store)).toBe(blocksBefore);
      expect((await repository.getSummary(second.id)).volumes[0]?.sizeGiB).toBe(2);
    });

    it('a restore point without its manifest (a crashed write) does not exist', async () => {
      const crashed = repository.createRestorePoint({ source: { kind: 'raw-images' }, instance: INSTANCE });
      await crashed.addVolume(
        { deviceName: '/dev/xvda', sizeGiB: 1, volumeType: 'gp3' },
        readRawImage(imagePath),
      );
      // No commit: the blocks and the block list are there, the manifest is not.
      expect((await repository.listRestorePoints()).map((p) => p.id)).not.toContain(crashed.id);
      await expect(repository.getManifest(crashed.id)).rejects.toBeInstanceOf(RestorePointNotFoundError);
    });

    it('a corrupt or missing block is an error naming restore point, volume, block and expected hash', async () => {
      const reader = await repository.openVolume(restorePointId, '/dev/xvda');
      const target = await blockOfFile(imagePath, 7);
      const expected = sha256Hex(target);
      const corrupt = Buffer.from(target);
      corrupt[100] = (corrupt[100] ?? 0) ^ 0xff;
      await store.put(blockKey(expected), corrupt);
      const error = await reader
        .readBlock({ index: 7, sha256: expected }, Buffer.alloc(BLOCK_SIZE))
        .catch((e) => e);
      expectBlockIntegrityError(error, restorePointId, 7, expected);
      expect(error.message).toContain(`Restore point '${restorePointId}', volume /dev/xvda, block 7`);
      expect(error.message).toContain(expected);

      const verification = await verifyRestorePoint(repository, restorePointId);
      expect(verification.ok).toBe(false);
      expect(verification.volumes[0]?.problems).toEqual([expect.stringContaining('block 7 ')]);

      await store.delete(blockKey(expected));
      const missing = await reader
        .readBlock({ index: 7, sha256: expected }, Buffer.alloc(BLOCK_SIZE))
        .catch((e) => e);
      expect(missing).toMatchObject({ code: 'block_missing', blockIndex: 7, expectedSha256: expected });

      await store.put(blockKey(expected), target); // repaired
      expect((await verifyRestorePoint(repository, restorePointId)).ok).toBe(true);
    });

    it('a block read without hashing still has its length checked, whatever the buffer', async () => {
      const reader = await repository.openVolume(restorePointId, '/dev/xvda');
      const target = await blockOfFile(imagePath, 7);
      const expected = sha256Hex(target);
      const ref = { index: 7, sha256: expected };
      // The writer's buffers are one byte over a block: the folder store reads a block in one call.
      for (const size of [BLOCK_SIZE, BLOCK_SIZE + 1]) {
        const read = await reader.readBlockUnhashed(ref, Buffer.alloc(size));
        expect(read.equals(target), `buffer of ${size} bytes`).toBe(true);
        const shared = await reader.readBlockUnhashed(ref, inSharedMemory(size));
        expect(shared.equals(target), `shared memory of ${size} bytes`).toBe(true);
      }
      try {
        for (const stored of [Buffer.concat([target, Buffer.from([0])]), target.subarray(1)]) {
          await store.put(blockKey(expected), stored);
          for (const into of [BLOCK_SIZE, BLOCK_SIZE + 1].flatMap((n) => [
            Buffer.alloc(n),
            inSharedMemory(n),
          ])) {
            const error = await reader.readBlockUnhashed(ref, into).catch((e) => e);
            expectBlockIntegrityError(error, restorePointId, 7, expected);
            expect(error.message, `${stored.length} bytes stored`).toContain(
              `${stored.length > BLOCK_SIZE ? BLOCK_SIZE + 1 : stored.length} bytes`,
            );
          }
        }
      } finally {
        await store.put(blockKey(expected), target);
      }
    });
  });
});

function inSharedMemory(size: number): Buffer {
  return Buffer.from(new SharedArrayBuffer(size));
}

async function countBlocks(store: ObjectStore): Promise<number> {
  let count = 0;
  for (const prefix of await store.listChildren('blocks/')) {
    count += (await store.listChildren(`blocks/${prefix}/`)).length;
  }
  return count;
}
