import type { EBSClient } from '@aws-sdk/client-ebs';
import type { EC2Client } from '@aws-sdk/client-ec2';
import type { IAMClient } from '@aws-sdk/client-iam';
import type { KMSClient } from '@aws-sdk/client-kms';
import type { S3Client } from '@aws-sdk/client-s3';
import type { SSMClient } from '@aws-sdk/client-ssm';
import type { STSClient } from '@aws-sdk/client-sts';
import { fromTemporaryCredentials } from '@aws-sdk/credential-providers';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import type { AwsCredentialIdentity, AwsCredentialIdentityProvider } from '@smithy/types';
import { sdkPackages } from './sdk-packages.ts';

export type AwsCredentials = AwsCredentialIdentity | AwsCredentialIdentityProvider;

/** Where and as whom the clients act. One set of clients per (account, region, credentials). */
export interface AwsClientOptions {
  /** The region every client talks to (the restore's target region). */
  region: string;
  /**
   * Credentials to sign with.
   * @defaultValue the SDK's default provider chain (environment, profile, instance role)
   */
  credentials?: AwsCredentials;
  /**
   * Endpoint override for every service (the local emulator).
   * @defaultValue `process.env.AWS_ENDPOINT_URL`, else AWS's regional endpoints
   */
  endpoint?: string;
  /**
   * Attempts per call, the first included, with the SDK's standard retry mode (exponential backoff with
   * jitter on throttling, 5xx and transient network errors).
   * @defaultValue 4
   */
  maxAttempts?: number;
  /**
   * Attempts per call of the EBS client. The EBS direct writer retries each block itself, with one
   * budget per block; SDK retries underneath would multiply it (4 x 10 = 40 tries), so clients made
   * for the writer set 1.
   * @defaultValue `maxAttempts`
   */
  ebsMaxAttempts?: number;
  /**
   * Socket inactivity timeout per request, so a stalled connection cannot hang a restore.
   * @defaultValue 30000
   */
  requestTimeoutMs?: number;
  /**
   * Sockets per client; the EBS direct writer keeps many PutSnapshotBlock calls in flight.
   * @defaultValue 256
   */
  maxSockets?: number;
}

export interface AwsClients {
  ec2: EC2Client;
  kms: KMSClient;
  sts: STSClient;
  ebs: EBSClient;
  s3: S3Client;
  iam: IAMClient;
  /** AWS's public parameters (the base images of a launch). */
  ssm: SSMClient;
  /** The options the clients were built from, with defaults filled in. */
  options: Required<Omit<AwsClientOptions, 'credentials' | 'endpoint' | 'ebsMaxAttempts'>> &
    Pick<AwsClientOptions, 'credentials' | 'endpoint'>;
  /** Closes every client's sockets. */
  destroy(): void;
}

/** The endpoint override in force: the explicit one, else AWS_ENDPOINT_URL, else none (real AWS). */
export function resolveEndpoint(endpoint?: string): string | undefined {
  const value = endpoint ?? process.env.AWS_ENDPOINT_URL;
  return value === undefined || value === '' ? undefined : value;
}

/** Builds the SDK clients the product uses; the only place that constructs AWS clients. */
export function createAwsClients(options: AwsClientOptions): AwsClients {
  const endpoint = resolveEndpoint(options.endpoint);
  const filled = {
    region: options.region,
    credentials: options.credentials,
    endpoint,
    maxAttempts: options.maxAttempts ?? 4,
    requestTimeoutMs: options.requestTimeoutMs ?? 30_000,
    maxSockets: options.maxSockets ?? 256,
  };
  const requestHandler = new NodeHttpHandler({
    connectionTimeout: 10_000,
    requestTimeout: filled.requestTimeoutMs,
    httpAgent: { keepAlive: true, maxSockets: filled.maxSockets },
    httpsAgent: { keepAlive: true, maxSockets: filled.maxSockets },
  });
  const common = {
    region: filled.region,
    maxAttempts: filled.maxAttempts,
    retryMode: 'standard' as const,
    requestHandler,
    ...(filled.credentials ? { credentials: filled.credentials } : {}),
    ...(endpoint ? { endpoint } : {}),
  };
  // Each client is made (and its SDK package loaded) when first used: see sdkPackages.
  const made: Partial<Record<ClientName, { destroy(): void }>> = {};
  const client = <T extends { destroy(): void }>(name: ClientName, make: () => T): T => {
    made[name] ??= make();
    return made[name] as T;
  };
  return {
    get ec2() {
      return client('ec2', () => new (sdkPackages.ec2().EC2Client)(common));
    },
    get kms() {
      return client('kms', () => new (sdkPackages.kms().KMSClient)(common));
    },
    get sts() {
      return client('sts', () => new (sdkPackages.sts().STSClient)(common));
    },
    get ebs() {
      return client(
        'ebs',
        () =>
          new (sdkPackages.ebs().EBSClient)({
            ...common,
            maxAttempts: options.ebsMaxAttempts ?? filled.maxAttempts,
          }),
      );
    },
    get s3() {
      // Path-style addressing: the emulator (and S3-compatible stores) serve buckets under the path.
      return client(
        's3',
        () => new (sdkPackages.s3().S3Client)({ ...common, forcePathStyle: endpoint !== undefined }),
      );
    },
    get iam() {
      return client('iam', () => new (sdkPackages.iam().IAMClient)(common));
    },
    get ssm() {
      return client('ssm', () => new (sdkPackages.ssm().SSMClient)(common));
    },
    options: filled,
    destroy() {
      for (const one of Object.values(made)) one?.destroy();
      requestHandler.destroy();
    },
  };
}

type ClientName = 'ec2' | 'kms' | 'sts' | 'ebs' | 's3' | 'iam' | 'ssm';

export interface AssumeRoleOptions {
  /** Region of the STS endpoint (the restore's target region). */
  region: string;
  /** The restore role, e.g. `arn:aws:iam::222222222222:role/Restore`. */
  roleArn: string;
  /** Required by the role's trust policy when it has an `sts:ExternalId` condition. */
  externalId?: string;
  /** Shows up in CloudTrail and in the assumed-role ARN; use the restore id. */
  sessionName: string;
  /** Credentials of the caller (the worker role). @defaultValue the SDK's default chain */
  sourceCredentials?: AwsCredentials;
  /** @defaultValue `process.env.AWS_ENDPOINT_URL` */
  endpoint?: string;
  /** @defaultValue 3600 */
  durationSeconds?: number;
}

/** Credentials this close to their expiry are renewed before use. */
const RENEW_BEFORE_EXPIRY_MS = 5 * 60_000;

/**
 * One answer of `provider` for every client that holds it, renewed once it is near its expiry: each
 * SDK client keeps credentials of its own, so without this every client of a set (EC2, KMS, STS, …)
 * makes its own AssumeRole, one after another as a step first calls each. Calls that come while it
 * is being asked wait for the same answer; a failure is not kept (the next call asks again).
 */
export function shareCredentials(provider: AwsCredentialIdentityProvider): AwsCredentialIdentityProvider {
  let held: AwsCredentialIdentity | undefined;
  let asking: Promise<AwsCredentialIdentity> | undefined;
  return (properties) => {
    const expiresAt = held?.expiration?.getTime() ?? Number.POSITIVE_INFINITY;
    // A client asks with forceRefresh when AWS refused the credentials it held (expired early).
    const forced = (properties as { forceRefresh?: boolean } | undefined)?.forceRefresh === true;
    if (held && !forced && expiresAt - Date.now() > RENEW_BEFORE_EXPIRY_MS) return Promise.resolve(held);
    asking ??= provider(properties)
      .then((credentials) => {
        held = credentials;
        return credentials;
      })
      .finally(() => {
        asking = undefined;
      });
    return asking;
  };
}

/**
 * Credentials of the restore role, obtained with STS AssumeRole (once for all the clients that hold
 * them) and renewed before they expire.
 * Session names are limited to 64 characters of [\w+=,.@-]; longer or other characters are trimmed.
 * https://docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRole.html
 */
export function assumeRoleCredentials(options: AssumeRoleOptions): AwsCredentialIdentityProvider {
  const endpoint = resolveEndpoint(options.endpoint);
  return shareCredentials(
    fromTemporaryCredentials({
      params: {
        RoleArn: options.roleArn,
        RoleSessionName: options.sessionName.replace(/[^\w+=,.@-]/g, '-').slice(0, 64),
        DurationSeconds: options.durationSeconds ?? 3600,
        ...(options.externalId ? { ExternalId: options.externalId } : {}),
      },
      ...(options.sourceCredentials ? { masterCredentials: options.sourceCredentials } : {}),
      clientConfig: { region: options.region, ...(endpoint ? { endpoint } : {}) },
    }),
  );
}
