import { randomBytes } from 'node:crypto';
import { close, open as openCallback, read } from 'node:fs';
import { copyFile, mkdir, open, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { promisify } from 'node:util';
import type { ObjectStore } from './object-store.ts';

const openFd = promisify(openCallback);
const closeFd = promisify(close);
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

  constructor(root: string) {
    this.root = resolve(root);
    this.location = this.root;
  }

  private path(key: string): string {
    if (key.split('/').some((part) => part === '..' || part === '')) {
      throw new Error(`Invalid object key '${key}'`);
    }
    return join(this.root, key);
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

  async readInto(key: string, into: Buffer): Promise<number | undefined> {
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
      }
      // Buffer full: one more byte means the object is larger than asked for (a corrupt block).
      const extra = await readFd(fd, Buffer.allocUnsafe(1), 0, 1, filled);
      return filled + extra;
    } finally {
      await closeFd(fd);
    }
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
}
