import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileReaderThread } from './file-reader-thread.ts';

describe('FileReaderThread', () => {
  let dir: string;
  const thread = new FileReaderThread();
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'file-reader-thread-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('reads files into shared memory, says how long its batch has been out, and fails as the file system does', async () => {
    const body = randomBytes(1000);
    await writeFile(join(dir, 'one'), body);
    const into = Buffer.from(new SharedArrayBuffer(2000));
    expect(thread.busyMs()).toBe(0);
    const reading = thread.readInto(join(dir, 'one'), into);
    // The answer cannot come in before the event loop turns: the batch is out for at least this long.
    const since = performance.now();
    while (performance.now() - since < 3);
    expect(thread.busyMs()).toBeGreaterThanOrEqual(3);
    expect(await reading).toBe(1000);
    expect(into.subarray(0, 1000)).toEqual(body);
    expect(thread.busyMs()).toBe(0);
    // Longer than the buffer: one byte more than it holds.
    expect(await thread.readInto(join(dir, 'one'), into.subarray(0, 10))).toBe(11);
    await expect(thread.readInto(join(dir, 'missing'), into)).rejects.toMatchObject({ code: 'ENOENT' });
    expect(() => thread.readInto(join(dir, 'one'), Buffer.alloc(10))).toThrow(TypeError);
  });

  // Its own timeout: it starts a node process with tsx, which takes seconds on a loaded machine (CI runs
  // the type-check beside the unit tests); the unit project's default of 5 s failed it under load.
  it('starts ahead of the first read without keeping a process alive, and reads once prepared', {
    timeout: 30_000,
  }, async () => {
    // A process that prepares a thread and never reads still exits on its own (the CLI and the workers
    // prepare the thread before a write that may fail before its first block).
    const module = fileURLToPath(new URL('./file-reader-thread.ts', import.meta.url));
    const script = join(dir, 'prepare-only.mts');
    await writeFile(
      script,
      `import { FileReaderThread } from ${JSON.stringify(module)}; new FileReaderThread().prepare();`,
    );
    await promisify(execFile)(process.execPath, ['--import', 'tsx', script], { timeout: 20_000 });
    const prepared = new FileReaderThread();
    prepared.prepare();
    prepared.prepare();
    await writeFile(join(dir, 'two'), 'two');
    const into = Buffer.from(new SharedArrayBuffer(8));
    expect(await prepared.readInto(join(dir, 'two'), into)).toBe(3);
    expect(into.subarray(0, 3).toString()).toBe('two');
  });
});
