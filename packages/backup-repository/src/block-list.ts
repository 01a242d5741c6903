import { createHash, type Hash } from 'node:crypto';
import { once } from 'node:events';
import { createWriteStream, type WriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';

/** One block of a volume as the block list records it: its SHA-256 (hex), or null for a zero block. */
export interface BlockRef {
  index: number;
  sha256: string | null;
}

const ZERO_LINE = '0';
const SHA256_LINE = /^[0-9a-f]{64}$/;

/**
 * Writes a block list to a local temporary file, one line per block, hashing as it goes: memory stays
 * constant whatever the volume size. `finish()` returns the file to upload and the list's SHA-256.
 */
export class BlockListWriter {
  private readonly hash: Hash = createHash('sha256');
  private stream: WriteStream | undefined;
  private dir: string | undefined;
  private nextIndex = 0;
  zeroBlocks = 0;

  get blockCount(): number {
    return this.nextIndex;
  }

  private async open(): Promise<WriteStream> {
    if (this.stream === undefined) {
      this.dir = await mkdtemp(join(tmpdir(), 'ec2-restore-blocklist-'));
      this.stream = createWriteStream(join(this.dir, 'blocks'));
    }
    return this.stream;
  }

  async append(sha256: string | null): Promise<void> {
    const stream = await this.open();
    const line = `${sha256 ?? ZERO_LINE}\n`;
    this.hash.update(line);
    if (sha256 === null) this.zeroBlocks += 1;
    this.nextIndex += 1;
    if (!stream.write(line)) await once(stream, 'drain');
  }

  async finish(): Promise<{ path: string; sha256: string; cleanup: () => Promise<void> }> {
    const stream = await this.open();
    stream.end();
    await once(stream, 'finish');
    const dir = this.dir!;
    return {
      path: join(dir, 'blocks'),
      sha256: this.hash.digest('hex'),
      cleanup: () => rm(dir, { recursive: true, force: true }),
    };
  }

  async discard(): Promise<void> {
    this.stream?.destroy();
    if (this.dir) await rm(this.dir, { recursive: true, force: true });
  }
}

export class BlockListFormatError extends Error {}

/**
 * Splits a block list into refs, chunk by chunk, checking each line, the count and the list's SHA-256.
 * Lines are split here rather than by node:readline: a restore reads the list while its blocks are
 * sent, and readline's events per line and the stream code it drives are code the JIT compiles (and
 * compiles again once it meets the HTTP client's streams) during the write.
 */
class BlockListParser {
  private readonly hash = createHash('sha256');
  private index = 0;
  /** A line cut by the end of a chunk, carried into the next one. */
  private partial = '';

  constructor(
    private readonly expectedCount: number,
    private readonly expectedSha256: string,
  ) {}

  /** The refs of the complete lines in `chunk` (and of the line it completes), appended to `into`. */
  push(chunk: Buffer | string, into: BlockRef[]): void {
    const text = this.partial + (typeof chunk === 'string' ? chunk : chunk.toString('latin1'));
    let start = 0;
    for (let end = text.indexOf('\n'); end !== -1; end = text.indexOf('\n', start)) {
      into.push(this.parse(text.slice(start, end)));
      start = end + 1;
    }
    this.partial = text.slice(start);
  }

  /** The last line's ref if it has no line end; then checks the count and the list's SHA-256. */
  end(into: BlockRef[]): void {
    if (this.partial !== '') into.push(this.parse(this.partial));
    if (this.index !== this.expectedCount) {
      throw new BlockListFormatError(`${this.index} blocks listed, the manifest says ${this.expectedCount}`);
    }
    const actual = this.hash.digest('hex');
    if (actual !== this.expectedSha256) {
      throw new BlockListFormatError(`it hashes to ${actual}, the manifest says ${this.expectedSha256}`);
    }
  }

  private parse(raw: string): BlockRef {
    // A line ends with LF or CRLF (as readline splits); the list is hashed with LF endings.
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    this.hash.update(`${line}\n`);
    const index = this.index;
    if (index >= this.expectedCount) throw new BlockListFormatError(`more than ${this.expectedCount} blocks`);
    this.index = index + 1;
    if (line === ZERO_LINE) return { index, sha256: null };
    if (SHA256_LINE.test(line)) return { index, sha256: line };
    throw new BlockListFormatError(`line ${index + 1} is neither a SHA-256 nor '0'`);
  }
}

/** A list's refs a chunk at a time (one array, refilled), checked as readBlockList says. */
async function* refsByChunk(
  stream: Readable,
  expectedCount: number,
  expectedSha256: string,
): AsyncGenerator<readonly BlockRef[]> {
  const parser = new BlockListParser(expectedCount, expectedSha256);
  const refs: BlockRef[] = [];
  try {
    for await (const chunk of stream) {
      parser.push(chunk as Buffer | string, refs);
      yield refs;
      refs.length = 0;
    }
    parser.end(refs);
    yield refs;
  } finally {
    stream.destroy();
  }
}

/**
 * Streams the block refs of a list. Throws BlockListFormatError when a line is malformed, the count is not
 * `expectedCount`, or the list does not hash to `expectedSha256` (checked when the stream ends, so a
 * consumer that must not act on a bad list reads it through once first: `forEachBlockListed`).
 */
export async function* readBlockList(
  stream: Readable,
  expectedCount: number,
  expectedSha256: string,
): AsyncGenerator<BlockRef> {
  for await (const refs of refsByChunk(stream, expectedCount, expectedSha256)) {
    for (const ref of refs) yield ref;
  }
}

/**
 * Reads a whole block list, calling `onBlock` for each ref, and checks it as readBlockList does. A loop
 * of its own rather than readBlockList's generator: the check before a write does not train the
 * generator's compiled code on a loop that is not the write's (the JIT would drop and recompile it when
 * the write pulls refs one at a time).
 */
export async function forEachBlockListed(
  stream: Readable,
  expectedCount: number,
  expectedSha256: string,
  onBlock: (ref: BlockRef) => void,
): Promise<void> {
  for await (const refs of refsByChunk(stream, expectedCount, expectedSha256)) {
    for (const ref of refs) onBlock(ref);
  }
}
