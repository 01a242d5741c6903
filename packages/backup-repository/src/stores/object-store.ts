import type { Readable } from 'node:stream';

/**
 * The storage a backup repository lives on: a flat key space of immutable objects. Two implementations
 * (a local folder and S3) pass one contract test suite (`test/data-path/repository-contract.test.ts`).
 */
export interface ObjectStore {
  /** Where the store is, for messages: a folder path or `s3://bucket/prefix`. */
  readonly location: string;
  /** A whole object; undefined when it does not exist. For small objects (manifests). */
  getBytes(key: string): Promise<Buffer | undefined>;
  /** An object as a stream; undefined when it does not exist. For objects of unbounded size (block lists). */
  getStream(key: string): Promise<Readable | undefined>;
  /**
   * Reads an object into `into` without allocating. Returns the object's full length (which may exceed
   * `into.length`: then only the first `into.length` bytes were copied), or undefined when it does not exist.
   * `expectedLength` (below `into.length`) lets a store end the read once that many bytes came in one
   * read that asked for more, instead of asking again to see the object end there.
   */
  readInto(key: string, into: Buffer, expectedLength?: number): Promise<number | undefined>;
  /**
   * Gets ready for many `readInto` calls into shared memory, so the first of them does not wait for the
   * set-up (a folder store starts its reader thread). Optional; it never fails and holds nothing that
   * keeps the process alive.
   */
  prepareReads?(): void;
  /** Writes an object atomically: a reader sees the whole new object or none (or the previous one). */
  put(key: string, body: Buffer): Promise<void>;
  /** Like put, with the body taken from a local file (streamed, for large objects). */
  putFile(key: string, path: string): Promise<void>;
  exists(key: string): Promise<boolean>;
  /** Names of the direct children of a key prefix that ends with `/` (like directories). */
  listChildren(prefix: string): Promise<string[]>;
  delete(key: string): Promise<void>;
  /**
   * Starts a batch of writes made durable together, for many objects written in a row (the blocks of
   * a volume): far cheaper than a durable put each, with the same guarantee at commit.
   */
  startBatch(): ObjectBatch;
}

/**
 * Objects written as a group. An object is visible under its key only once it is durable: a folder
 * store shows the batch at `commit()`, after one flush of the whole batch; a store whose every put is
 * atomic and durable (S3) shows each object as it is put. Either way a crash leaves no object that
 * reads back wrong, and `commit()` returning means every object of the batch is durable.
 */
export interface ObjectBatch {
  /** Writes an object of the batch; `body` may be reused once the promise settles. */
  put(key: string, body: Buffer): Promise<void>;
  /** Whether `key` was put in this batch and is not committed yet. */
  has(key: string): boolean;
  /** How many objects wait for commit. */
  readonly size: number;
  /** Makes every object put so far durable, then visible under its key; the batch can be used again. */
  commit(): Promise<void>;
  /** Drops every object put and not committed. */
  abort(): Promise<void>;
}
