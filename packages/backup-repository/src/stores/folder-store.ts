import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { close, fdatasync, open as openCallback, read, write } from 'node:fs';
import { copyFile, mkdir, open, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { dirname, resolve, sep } from 'node:path';
import type { Readable } from 'node:stream';
import { promisify } from 'node:util';
import { runPool } from '../run-pool.ts';
import { fileReaderThread } from './file-reader-thread.ts';
import type { ObjectBatch, ObjectStore } from './object-store.ts';

const openFd = promisify(openCallback);
const closeFd = promisify(close);
const datasyncFd = promisify(fdatasync);
function writeFd(fd: number, buffer: Buffer, offset: number, length: number): Promise<number> {
  return new Promise((resolve, reject) => {
    write(fd, buffer, offset, length, null, (err, written) => (err ? reject(err) : resolve(written)));
  });
}
function readFd(
  fd: number,
  buffer: Buffer,
  offset: number,
  length: number,
  position: number,
): Promise<number> {
  return new Promise((resolve, reject) => {
    read(fd, buffer, offset, length, position, (err, bytesRead) => (err ? reject(err) : resolve(bytesRead)));
  });
}

/** A reader thread batch out longer than this: the disk is slow, other reads go to the thread pool. */
const SLOW_BATCH_MS = 20;

/** A key with an empty segment (leading, trailing or doubled `/`, or none at all) or a `..` segment. */
const UNSAFE_KEY = /(^|\/)(\.\.)?(\/|$)/;

function isNotFound(err: unknown): boolean {
  return (err as NodeJS.ErrnoException).code === 'ENOENT';
}

/**
 * A repository in a local folder (the embedded default). Objects are files named by their key. Every write
 * goes to a temporary file that is flushed to disk and then renamed over the final name, so a crash leaves
 * either the complete file or none (rename(2) is atomic within one filesystem).
 */
export class FolderObjectStore implements ObjectStore {
  readonly location: string;
  private readonly root: string;
  /** The folder with a separator after it: every object's path starts with it. */
  private readonly prefix: string;

  constructor(root: string) {
    this.root = resolve(root);
    this.prefix = this.root.endsWith(sep) ? this.root : `${this.root}${sep}`;
    this.location = this.root;
  }

  /**
   * The file of `key`. It runs once per block on a restore, so it checks and joins by hand: a key with
   * no empty and no `..` segment needs no normalising (path.join's work) to stay inside the folder.
   */
  private path(key: string): string {
    if (UNSAFE_KEY.test(key)) throw new Error(`Invalid object key '${key}'`);
    return this.prefix + key;
  }

  async getBytes(key: string): Promise<Buffer | undefined> {
    try {
      return await readFile(this.path(key));
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  async getStream(key: string): Promise<Readable | undefined> {
    const path = this.path(key);
    try {
      const handle = await open(path, 'r');
      return handle.createReadStream();
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  async readInto(key: string, into: Buffer, expectedLength?: number): Promise<number | undefined> {
    const thread = fileReaderThread();
    // Shared memory (the writers' block buffers): the reader thread fills it, a batch of blocks per
    // hand-off, instead of three thread-pool round trips per block; unless its batch has been out for
    // long (a slow disk), when the thread pool reads alongside it.
    if (into.buffer instanceof SharedArrayBuffer && thread.busyMs() < SLOW_BATCH_MS) {
      try {
        return await thread.readInto(this.path(key), into, expectedLength);
      } catch (err) {
        if (isNotFound(err)) return undefined;
        throw err;
      }
    }
    // Plain fds rather than FileHandle objects: this runs once per block on the restore's hot path.
    let fd: number;
    try {
      fd = await openFd(this.path(key), 'r');
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
    try {
      let filled = 0;
      while (filled < into.length) {
        const bytesRead = await readFd(fd, into, filled, into.length - filled, filled);
        if (bytesRead === 0) return filled;
        filled += bytesRead;
        // That read asked for more than the expected length and got exactly it: a file answers a read
        // short only at its end, so a third call (read to prove the end) is not needed.
        if (filled === expectedLength && into.length > expectedLength) return filled;
      }
      // Buffer full: one more byte means the object is larger than asked for (a corrupt block).
      const extra = await readFd(fd, Buffer.allocUnsafe(1), 0, 1, filled);
      return filled + extra;
    } finally {
      await closeFd(fd);
    }
  }

  /** Starts the reader thread (its start-up takes tens of milliseconds), idle until the first read. */
  prepareReads(): void {
    fileReaderThread().prepare();
  }

  private async writeAtomically(key: string, write: (tempPath: string) => Promise<void>): Promise<void> {
    const finalPath = this.path(key);
    await mkdir(dirname(finalPath), { recursive: true });
    const tempPath = `${finalPath}.tmp-${randomBytes(6).toString('hex')}`;
    try {
      await write(tempPath);
      const handle = await open(tempPath, 'r+');
      try {
        await handle.datasync();
      } finally {
        await handle.close();
      }
      await rename(tempPath, finalPath);
    } catch (err) {
      await rm(tempPath, { force: true });
      throw err;
    }
  }

  async put(key: string, body: Buffer): Promise<void> {
    await this.writeAtomically(key, async (tempPath) => {
      const handle = await open(tempPath, 'wx');
      try {
        await handle.writeFile(body);
      } finally {
        await handle.close();
      }
    });
  }

  async putFile(key: string, path: string): Promise<void> {
    await this.writeAtomically(key, (tempPath) => copyFile(path, tempPath));
  }

  async exists(key: string): Promise<boolean> {
    try {
      await stat(this.path(key));
      return true;
    } catch (err) {
      if (isNotFound(err)) return false;
      throw err;
    }
  }

  async listChildren(prefix: string): Promise<string[]> {
    const dir = prefix === '' ? this.root : this.path(prefix.replace(/\/$/, ''));
    try {
      const entries = await readdir(dir, { withFileTypes: true });
      return entries
        .filter((e) => !e.name.includes('.tmp-'))
        .map((e) => e.name)
        .sort();
    } catch (err) {
      if (isNotFound(err)) return [];
      throw err;
    }
  }

  async delete(key: string): Promise<void> {
    await rm(this.path(key), { force: true });
  }

  /**
   * Blocks of a batch go to temporary files without a flush each (a flush per 512 KiB file is what
   * made creation crawl); `commit()` flushes the whole filesystem once (syncfs(2), through
   * `sync --file-system`), renames every file to its key, and flushes again so the names are durable
   * too. Where `sync --file-system` is missing, each file and folder is flushed instead.
   */
  startBatch(): ObjectBatch {
    const pending = new Map<string, string>();
    const folders = new Set<string>();
    const store = this;
    return {
      async put(key, body) {
        const finalPath = store.path(key);
        const folder = dirname(finalPath);
        if (!folders.has(folder)) {
          await mkdir(folder, { recursive: true });
          folders.add(folder);
        }
        const tempPath = `${finalPath}.tmp-${randomBytes(6).toString('hex')}`;
        const fd = await openFd(tempPath, 'wx');
        try {
          for (let done = 0; done < body.length; ) done += await writeFd(fd, body, done, body.length - done);
        } finally {
          await closeFd(fd);
        }
        const previous = pending.get(key);
        pending.set(key, tempPath);
        if (previous) await rm(previous, { force: true });
      },
      has: (key) => pending.has(key),
      get size() {
        return pending.size;
      },
      async commit() {
        if (pending.size === 0) return;
        const entries = [...pending];
        pending.clear();
        const flushedAll = await store.flushFileSystem();
        if (!flushedAll) await runPool(entries, 16, ([, tempPath]) => flushFile(tempPath));
        await runPool(entries, 16, ([key, tempPath]) => rename(tempPath, store.path(key)));
        if (!(await store.flushFileSystem())) {
          await runPool([...new Set(entries.map(([key]) => dirname(store.path(key))))], 16, flushFile);
        }
      },
      async abort() {
        const temps = [...pending.values()];
        pending.clear();
        await runPool(temps, 16, (tempPath) => rm(tempPath, { force: true }));
      },
    };
  }

  private syncFsWorks: boolean | undefined;

  /** syncfs(2) of the filesystem holding the repository; false when the platform cannot. */
  private async flushFileSystem(): Promise<boolean> {
    if (this.syncFsWorks === false) return false;
    const ok = await new Promise<boolean>((resolve) => {
      execFile('sync', ['--file-system', this.root], (error) => resolve(error === null));
    });
    this.syncFsWorks = ok;
    return ok;
  }
}

/** fdatasync of a file, or fsync of a folder (its entries). */
async function flushFile(path: string): Promise<void> {
  const fd = await openFd(path, 'r');
  try {
    await datasyncFd(fd);
  } finally {
    await closeFd(fd);
  }
}
