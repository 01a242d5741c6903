import { Worker } from 'node:worker_threads';

/**
 * The reader thread's code (plain JavaScript, run with `eval`, so it needs no file of its own in a
 * compiled bundle). It takes a batch of reads (the shared memories the batch reads into, each once,
 * and five values per read: path, memory, offset, length, expected length), does each one with
 * synchronous calls (open, read until the buffer is full or the file ends, close), and answers the
 * batch with one message: a length, or the error's code and message. The bytes go straight into the
 * caller's shared memory.
 */
const READER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { closeSync, openSync, readSync } = require('node:fs');
const oneByte = new Uint8Array(1);
function readOne(path, into, expectedLength) {
  const fd = openSync(path, 'r');
  try {
    let filled = 0;
    while (filled < into.length) {
      const bytesRead = readSync(fd, into, filled, into.length - filled, filled);
      if (bytesRead === 0) return filled;
      filled += bytesRead;
      if (filled === expectedLength && into.length > expectedLength) return filled;
    }
    return filled + readSync(fd, oneByte, 0, 1, filled);
  } finally {
    closeSync(fd);
  }
}
parentPort.on('message', ({ memories, reads }) => {
  const answers = [];
  for (let i = 0; i < reads.length; i += 5) {
    try {
      const into = new Uint8Array(memories[reads[i + 1]], reads[i + 2], reads[i + 3]);
      answers.push(readOne(reads[i], into, reads[i + 4]));
    } catch (error) {
      answers.push({ code: error.code, message: error.message });
    }
  }
  parentPort.postMessage(answers);
});
`;

type ReadAnswer = number | { code?: string; message: string };

interface PendingRead {
  path: string;
  into: Buffer;
  expectedLength: number;
  resolve: (length: number) => void;
  reject: (error: Error) => void;
}

/**
 * Reads whole files into shared memory on a thread of its own, many per message. Reading a block file
 * through libuv's thread pool is three hand-offs between threads (open, read, close), each waking a
 * sleeping thread and then the event loop: most of a writer's CPU beyond the HTTP send, and more on an
 * idle machine, where every wake-up is a real sleep and wake. Here a batch of reads costs one
 * hand-off each way, and the event loop never waits on the disk (a repository may be a slow network
 * disk). Reads queue while a batch is out and go together as the next batch, so batches grow exactly
 * when the reads come faster than the thread answers.
 */
export class FileReaderThread {
  private worker: Worker | undefined;
  private queued: PendingRead[] = [];
  private out: PendingRead[] | undefined;
  private outSince = 0;

  /**
   * How long the batch out has been reading (0 when the thread is idle). One thread reads one file at a
   * time: on a slow disk (a network file system) a caller sends further reads elsewhere while this
   * grows, so reads still run side by side there.
   */
  busyMs(): number {
    return this.out ? performance.now() - this.outSince : 0;
  }

  /**
   * Reads the file at `path` into `into` (a view of a SharedArrayBuffer). Returns the bytes read: the
   * file's length, or `into.length + 1` when the file is longer than `into`; once exactly
   * `expectedLength` bytes came in one read that asked for more, that many (the file ends there).
   * Rejects with the file system's error (its `code`, e.g. ENOENT).
   */
  readInto(path: string, into: Buffer, expectedLength = -1): Promise<number> {
    if (!(into.buffer instanceof SharedArrayBuffer)) {
      throw new TypeError('FileReaderThread reads into shared memory only (a view of a SharedArrayBuffer)');
    }
    return new Promise((resolve, reject) => {
      this.queued.push({ path, into, expectedLength, resolve, reject });
      if (!this.out) this.send();
    });
  }

  /**
   * Starts the thread now, so the first read does not wait for it to boot. While no read is out the
   * thread does not keep the process alive.
   */
  prepare(): void {
    const worker = this.start();
    if (!this.out) worker.unref();
  }

  private send(): void {
    const worker = this.start();
    if (this.queued.length === 0) {
      // Idle: the thread does not keep the process alive.
      worker.unref();
      return;
    }
    this.out = this.queued;
    this.queued = [];
    this.outSince = performance.now();
    worker.ref();
    // Each memory goes once per batch (a batch's reads share a few, the writer's one): passing shared
    // memory makes an object of it on the other side each time.
    const memories: SharedArrayBuffer[] = [];
    const reads: (string | number)[] = [];
    for (const { path, into, expectedLength } of this.out) {
      let memory = memories.indexOf(into.buffer as SharedArrayBuffer);
      if (memory === -1) memory = memories.push(into.buffer as SharedArrayBuffer) - 1;
      reads.push(path, memory, into.byteOffset, into.length, expectedLength);
    }
    worker.postMessage({ memories, reads });
  }

  private start(): Worker {
    if (this.worker) return this.worker;
    const worker = new Worker(READER_SOURCE, { eval: true });
    worker.on('message', (answers: ReadAnswer[]) => {
      const batch = this.out ?? [];
      this.out = undefined;
      batch.forEach((read, i) => {
        const answer = answers[i]!;
        if (typeof answer === 'number') read.resolve(answer);
        else read.reject(Object.assign(new Error(answer.message), { code: answer.code }));
      });
      this.send();
    });
    const fail = (error: Error): void => {
      // A thread that died takes its reads with it; the next read starts a new one.
      this.worker = undefined;
      const lost = [...(this.out ?? []), ...this.queued];
      this.out = undefined;
      this.queued = [];
      for (const read of lost) read.reject(error);
    };
    worker.on('error', fail);
    worker.on('exit', (code) => {
      if (this.worker === worker) fail(new Error(`the file reader thread exited (code ${code})`));
    });
    this.worker = worker;
    return worker;
  }
}

let shared: FileReaderThread | undefined;

/** The process's file reader thread, started at its first read. */
export function fileReaderThread(): FileReaderThread {
  shared ??= new FileReaderThread();
  return shared;
}
