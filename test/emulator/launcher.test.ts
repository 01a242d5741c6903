import { createServer } from 'node:net';
import { GetEbsDefaultKmsKeyIdCommand } from '@aws-sdk/client-ec2';
import { createAwsClients } from '@ec2-restore/aws-clients';
import { credentialsForAccount, randomAccountId, startEmulator } from '@ec2-restore/local-aws';
import { describe, expect, it } from 'vitest';
import { isAlive, REGION } from '../support/index.ts';

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

// The launcher itself (packages/local-aws/src/emulator.ts); the other contract tests use the emulator
// the global setup started.
describe('startEmulator', () => {
  it('starts on a free port, answers, and stop() ends the process (idempotent)', async () => {
    const emulator = await startEmulator();
    try {
      expect(emulator.endpoint).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      const res = await fetch(`${emulator.endpoint}/moto-api/data.json`);
      expect(res.status).toBe(200);
      expect(isAlive(emulator.pid)).toBe(true);
    } finally {
      await emulator.stop();
    }
    expect(isAlive(emulator.pid)).toBe(false);
    await emulator.stop();
  });

  it('honours a given port, and vanilla: true runs plain moto (GetEbsDefaultKmsKeyId not implemented)', async () => {
    const port = await freePort();
    const emulator = await startEmulator({ port, vanilla: true });
    try {
      expect(emulator.endpoint).toBe(`http://127.0.0.1:${port}`);
      const aws = createAwsClients({
        region: REGION,
        endpoint: emulator.endpoint,
        credentials: credentialsForAccount(randomAccountId()),
        maxAttempts: 1,
      });
      try {
        await expect(aws.ec2.send(new GetEbsDefaultKmsKeyIdCommand({}))).rejects.toThrow();
      } finally {
        aws.destroy();
      }
    } finally {
      await emulator.stop();
    }
    expect(isAlive(emulator.pid)).toBe(false);
  });
});
