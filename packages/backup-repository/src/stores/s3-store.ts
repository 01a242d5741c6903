import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import type { S3Client } from '@aws-sdk/client-s3';
import { sdkPackages } from '@ec2-restore/aws-clients';
import type { ObjectBatch, ObjectStore } from './object-store.ts';

function isNotFound(err: unknown): boolean {
  const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
  return e.name === 'NoSuchKey' || e.name === 'NotFound' || e.$metadata?.httpStatusCode === 404;
}

/**
 * A repository in an S3 bucket under a key prefix. A PutObject is atomic (a reader sees the old object, the
 * new one, or none; never a part: https://docs.aws.amazon.com/AmazonS3/latest/userguide/Welcome.html#ConsistencyModel),
 * so writing blocks and block lists before the manifest keeps the manifest from pointing at missing data.
 */
export class S3ObjectStore implements ObjectStore {
  readonly location: string;

  constructor(
    private readonly s3: S3Client,
    private readonly bucket: string,
    private readonly prefix: string,
  ) {
    this.location = `s3://${bucket}${prefix === '' ? '' : `/${prefix}`}`;
  }

  private key(key: string): string {
    return this.prefix === '' ? key : `${this.prefix}/${key}`;
  }

  private async get(key: string): Promise<Readable | undefined> {
    try {
      const out = await this.s3.send(
        new (sdkPackages.s3().GetObjectCommand)({ Bucket: this.bucket, Key: this.key(key) }),
      );
      return out.Body as Readable;
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  async getBytes(key: string): Promise<Buffer | undefined> {
    const body = await this.get(key);
    if (body === undefined) return undefined;
    const chunks: Buffer[] = [];
    for await (const chunk of body) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  }

  getStream(key: string): Promise<Readable | undefined> {
    return this.get(key);
  }

  async readInto(key: string, into: Buffer): Promise<number | undefined> {
    const body = await this.get(key);
    if (body === undefined) return undefined;
    let length = 0;
    for await (const chunk of body) {
      const bytes = chunk as Buffer;
      if (length < into.length) bytes.copy(into, length, 0, Math.min(bytes.length, into.length - length));
      length += bytes.length;
    }
    return length;
  }

  async put(key: string, body: Buffer): Promise<void> {
    await this.s3.send(
      new (sdkPackages.s3().PutObjectCommand)({ Bucket: this.bucket, Key: this.key(key), Body: body }),
    );
  }

  async putFile(key: string, path: string): Promise<void> {
    const { size } = await stat(path);
    await this.s3.send(
      new (sdkPackages.s3().PutObjectCommand)({
        Bucket: this.bucket,
        Key: this.key(key),
        Body: createReadStream(path),
        ContentLength: size,
      }),
    );
  }

  async exists(key: string): Promise<boolean> {
    try {
      await this.s3.send(
        new (sdkPackages.s3().HeadObjectCommand)({ Bucket: this.bucket, Key: this.key(key) }),
      );
      return true;
    } catch (err) {
      if (isNotFound(err)) return false;
      throw err;
    }
  }

  async listChildren(prefix: string): Promise<string[]> {
    const fullPrefix = this.key(prefix);
    const names: string[] = [];
    let token: string | undefined;
    do {
      const out = await this.s3.send(
        new (sdkPackages.s3().ListObjectsV2Command)({
          Bucket: this.bucket,
          Prefix: fullPrefix,
          Delimiter: '/',
          ContinuationToken: token,
        }),
      );
      for (const p of out.CommonPrefixes ?? []) {
        if (p.Prefix) names.push(p.Prefix.slice(fullPrefix.length).replace(/\/$/, ''));
      }
      for (const o of out.Contents ?? []) {
        if (o.Key) names.push(o.Key.slice(fullPrefix.length));
      }
      token = out.IsTruncated ? out.NextContinuationToken : undefined;
    } while (token !== undefined);
    return names.sort();
  }

  async delete(key: string): Promise<void> {
    await this.s3.send(
      new (sdkPackages.s3().DeleteObjectCommand)({ Bucket: this.bucket, Key: this.key(key) }),
    );
  }

  /** A PutObject is durable and atomic when it returns: a batch is a set of puts, commit waits for none. */
  startBatch(): ObjectBatch {
    const store = this;
    const pending = new Set<string>();
    return {
      async put(key, body) {
        pending.add(key);
        await store.put(key, body);
      },
      has: (key) => pending.has(key),
      get size() {
        return pending.size;
      },
      async commit() {
        pending.clear();
      },
      async abort() {
        pending.clear();
      },
    };
  }
}
