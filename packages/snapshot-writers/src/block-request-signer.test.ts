import { createAwsClients } from '@ec2-restore/aws-clients';
import { describe, expect, it } from 'vitest';
import { BlockRequestSigner } from './block-request-signer.ts';

interface SdkSigner {
  sign(
    request: {
      method: string;
      protocol: string;
      hostname: string;
      port?: number;
      path: string;
      query: Record<string, string>;
      headers: Record<string, string>;
    },
    options: { signingDate: Date },
  ): Promise<{ headers: Record<string, string> }>;
}

/** The SDK's own signer of an EBS client with these credentials. */
async function sdkSigner(credentials: {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}) {
  const clients = createAwsClients({ region: 'eu-west-1', endpoint: 'http://127.0.0.1:9', credentials });
  const config = clients.ebs.config as unknown as { signer: () => Promise<SdkSigner> };
  return { signer: await config.signer(), clients };
}

describe('BlockRequestSigner', () => {
  const headers = {
    host: '127.0.0.1:9',
    'content-type': 'application/octet-stream',
    'content-length': '524288',
    'x-amz-content-sha256': 'UNSIGNED-PAYLOAD',
    'x-amz-data-length': '524288',
    'x-amz-checksum': 'n4bQgYhMfWWaL+qgxVrQFaO/TxsrC4Is0V1sFbDwCgg=',
    'x-amz-checksum-algorithm': 'SHA256',
  };

  it('signs exactly as the SDK signs, with and without a session token, across days', async () => {
    const cases = [
      { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY' },
      { accessKeyId: 'ASIAEXAMPLE', secretAccessKey: 'secret/with+chars', sessionToken: 'token==' },
    ];
    const ours = new BlockRequestSigner('eu-west-1', 'ebs');
    for (const credentials of cases) {
      const { signer, clients } = await sdkSigner(credentials);
      try {
        // Two days in a row: the signing key our signer keeps must follow the day (and the credentials).
        for (const at of ['2026-12-03T11:46:00.123Z', '2026-12-04T00:00:01.000Z']) {
          const date = new Date(at);
          const path = '/snapshots/snap-0123456789abcdef0/blocks/2047';
          const sdk = await signer.sign(
            { method: 'PUT', protocol: 'http:', hostname: '127.0.0.1', port: 9, path, query: {}, headers },
            { signingDate: date },
          );
          const flat = ours.sign('PUT', path, headers, credentials, date);
          const mine = Object.fromEntries(flat.flatMap((value, i) => (i % 2 ? [] : [[value, flat[i + 1]]])));
          expect(mine.authorization, `${credentials.accessKeyId} at ${at}`).toBe(sdk.headers.authorization);
          expect(mine['x-amz-date']).toBe(sdk.headers['x-amz-date']);
          expect(mine['x-amz-security-token']).toBe(sdk.headers['x-amz-security-token']);
        }
      } finally {
        clients.destroy();
      }
    }
  });
});
