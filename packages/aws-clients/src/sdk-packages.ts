import { createRequire } from 'node:module';

type Ebs = typeof import('@aws-sdk/client-ebs');
type Ec2 = typeof import('@aws-sdk/client-ec2');
type Iam = typeof import('@aws-sdk/client-iam');
type Kms = typeof import('@aws-sdk/client-kms');
type S3 = typeof import('@aws-sdk/client-s3');
type Ssm = typeof import('@aws-sdk/client-ssm');
type Sts = typeof import('@aws-sdk/client-sts');

// Under tsx and vitest a module has no `require`; Node's loads the same CommonJS build an import would.
const nodeRequire = createRequire(import.meta.url);
const bundled = typeof require === 'function';

/**
 * The AWS SDK client packages, each loaded at its first use instead of when the process starts, so a
 * process holds only the services it calls: loaded, EC2's package alone is ~66 MiB of memory, IAM's and
 * S3's ~8 MiB each, KMS's ~4 MiB. Compiled (esbuild), the `require` calls are the bundle's own: the
 * package is in the bundle and runs on the first call. Code that imports a package's commands loads it at
 * start anyway; these spare the processes that only hold a client they never use.
 */
export const sdkPackages = {
  ebs: (): Ebs => (bundled ? require('@aws-sdk/client-ebs') : nodeRequire('@aws-sdk/client-ebs')),
  ec2: (): Ec2 => (bundled ? require('@aws-sdk/client-ec2') : nodeRequire('@aws-sdk/client-ec2')),
  iam: (): Iam => (bundled ? require('@aws-sdk/client-iam') : nodeRequire('@aws-sdk/client-iam')),
  kms: (): Kms => (bundled ? require('@aws-sdk/client-kms') : nodeRequire('@aws-sdk/client-kms')),
  s3: (): S3 => (bundled ? require('@aws-sdk/client-s3') : nodeRequire('@aws-sdk/client-s3')),
  ssm: (): Ssm => (bundled ? require('@aws-sdk/client-ssm') : nodeRequire('@aws-sdk/client-ssm')),
  sts: (): Sts => (bundled ? require('@aws-sdk/client-sts') : nodeRequire('@aws-sdk/client-sts')),
};
