import { Agent, request } from 'node:http';

/**
 * The least a client can do per EBS direct block call: one keep-alive HTTP request with the headers the
 * AWS SDK sends (SigV4 Authorization naming the access key, region and the `ebs` service, x-amz-date,
 * UNSIGNED-PAYLOAD, the checksum headers), without the SDK's per-request CPU (middleware, signing).
 * The signature itself is not computed: the emulator, like moto, does not check signatures. So the
 * benchmark measures the emulator, not the client.
 */
export class RawEbsClient {
  private readonly agent: Agent;
  private readonly host: string;
  private readonly port: number;

  constructor(
    endpoint: string,
    private readonly accessKeyId: string,
    private readonly region: string,
    sockets: number,
  ) {
    const url = new URL(endpoint);
    this.host = url.hostname;
    this.port = Number(url.port);
    this.agent = new Agent({ keepAlive: true, maxSockets: sockets });
  }

  private headers(extra: Record<string, string>): Record<string, string> {
    const now = new Date()
      .toISOString()
      .replace(/[-:]/g, '')
      .replace(/\.\d{3}/, '');
    return {
      authorization:
        `AWS4-HMAC-SHA256 Credential=${this.accessKeyId}/${now.slice(0, 8)}/${this.region}/ebs/aws4_request, ` +
        'SignedHeaders=host;x-amz-date, Signature=0000000000000000000000000000000000000000000000000000000000000000',
      'x-amz-date': now,
      'x-amz-content-sha256': 'UNSIGNED-PAYLOAD',
      ...extra,
    };
  }

  private send(
    method: string,
    path: string,
    headers: Record<string, string>,
    body?: Buffer,
  ): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }> {
    return new Promise((resolve, reject) => {
      let responded = false;
      const req = request(
        { host: this.host, port: this.port, method, path, headers: this.headers(headers), agent: this.agent },
        (res) => {
          responded = true;
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('end', () =>
            resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
          );
          res.on('error', reject);
          // A connection closed mid-response ends neither with 'end' nor always with 'error'.
          res.on('close', () => {
            if (!res.complete) reject(new Error(`${method} ${path}: the connection closed mid-response`));
          });
        },
      );
      req.on('error', reject);
      req.on('close', () => {
        if (!responded) reject(new Error(`${method} ${path}: the connection closed before a response`));
      });
      req.end(body);
    });
  }

  async putSnapshotBlock(snapshotId: string, index: number, data: Buffer, checksum: string): Promise<void> {
    const res = await this.send(
      'PUT',
      `/snapshots/${snapshotId}/blocks/${index}`,
      {
        'content-type': 'application/octet-stream',
        'content-length': String(data.length),
        'x-amz-data-length': String(data.length),
        'x-amz-checksum': checksum,
        'x-amz-checksum-algorithm': 'SHA256',
      },
      data,
    );
    if (res.status !== 201) throw new Error(`PutSnapshotBlock ${index}: HTTP ${res.status} ${res.body}`);
  }

  async getSnapshotBlock(
    snapshotId: string,
    index: number,
    token: string,
  ): Promise<{ data: Buffer; checksum: string }> {
    const res = await this.send(
      'GET',
      `/snapshots/${snapshotId}/blocks/${index}?blockToken=${encodeURIComponent(token)}`,
      {},
    );
    if (res.status !== 200) throw new Error(`GetSnapshotBlock ${index}: HTTP ${res.status} ${res.body}`);
    return { data: res.body, checksum: String(res.headers['x-amz-checksum']) };
  }

  destroy(): void {
    this.agent.destroy();
  }
}
