/**
 * A fixed set of equal buffers lent out one at a time; a borrower waits while all are out. Memory is
 * the set's size whatever the work, and fewer buffers than calls in flight suffice when a buffer is
 * needed only for part of a call (the writer's: reading a block and handing it to the socket, not the
 * wait for EBS's answer).
 */
export class BufferPool {
  private readonly free: Buffer[];
  private readonly waiting: ((buffer: Buffer) => void)[] = [];

  constructor(count: number, size: number) {
    if (!Number.isInteger(count) || count < 1)
      throw new RangeError(`count must be a positive integer, got ${count}`);
    // Shared memory, so a reader thread can fill a buffer without a copy (a folder repository does).
    const memory = new SharedArrayBuffer(count * size);
    this.free = Array.from({ length: count }, (_, i) => Buffer.from(memory, i * size, size));
  }

  acquire(): Promise<Buffer> {
    const buffer = this.free.pop();
    if (buffer) return Promise.resolve(buffer);
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  /** Gives a buffer back; the longest waiting borrower gets it. */
  release(buffer: Buffer): void {
    const next = this.waiting.shift();
    if (next) next(buffer);
    else this.free.push(buffer);
  }

  /** Borrows a buffer for `use`, which may give it back early by calling `release` (later calls do nothing). */
  async with<T>(use: (buffer: Buffer, release: () => void) => Promise<T>): Promise<T> {
    const buffer = await this.acquire();
    let out = true;
    const release = (): void => {
      if (!out) return;
      out = false;
      this.release(buffer);
    };
    try {
      return await use(buffer, release);
    } finally {
      release();
    }
  }
}
