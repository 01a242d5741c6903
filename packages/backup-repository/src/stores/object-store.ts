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
   */
  readInto(key: string, into: Buffer): Promise<number | undefined>;
  /** Writes an object atomically: a reader sees the whole new object or none (or the previous one). */
  put(key: string, body: Buffer): Promise<void>;
  /** Like put, with the body taken from a local file (streamed, for large objects). */
  putFile(key: string, path: string): Promise<void>;
  exists(key: string): Promise<boolean>;
  /** Names of the direct children of a key prefix that ends with `/` (like directories). */
  listChildren(prefix: string): Promise<string[]>;
  delete(key: string): Promise<void>;
}
