import { Readable } from 'node:stream';
import { restoreRequestSchema } from '@ec2-restore/contracts';
import express from 'express';

/**
 * A request of the shape clients send (never sent anywhere): parsing it once compiles what the
 * first real request would otherwise compile.
 */
const sampleRequest = {
  restorePointId: 'rp-warm-up',
  target: {
    accountId: '222222222222',
    region: 'eu-west-1',
    roleArn: 'arn:aws:iam::222222222222:role/ec2-restore-warm-up',
    externalId: 'warm-up',
    kmsKeyId: 'arn:aws:kms:eu-west-1:222222222222:key/00000000-0000-0000-0000-000000000000',
  },
  instance: {
    name: 'warm-up',
    subnetId: 'subnet-00000000',
    securityGroupIds: ['sg-00000000'],
    powerOn: false,
  },
  dataPath: 'ebs-direct',
};

/**
 * The first POST /v1/restores in a process paid ~15-20 ms that later ones do not: the JSON body
 * parser loads its character decoders at its first body, and zod compiles a schema's parser at
 * its first parse. This pays both at start, with a body that goes through the same parser and
 * schema; nothing is sent, recorded or logged.
 */
export async function warmRequestParsing(): Promise<void> {
  const body = Buffer.from(JSON.stringify(sampleRequest));
  const request = Object.assign(Readable.from([body]), {
    method: 'POST',
    headers: { 'content-type': 'application/json; charset=utf-8', 'content-length': String(body.length) },
  });
  await new Promise<void>((resolve, reject) =>
    express.json()(request as never, {} as never, (err?: unknown) => (err ? reject(err) : resolve())),
  );
  const parsed = restoreRequestSchema.safeParse((request as unknown as { body: unknown }).body);
  if (!parsed.success) throw new Error(`the warm-up request no longer parses: ${parsed.error.message}`);
}
