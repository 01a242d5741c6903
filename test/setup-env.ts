import { forgetTestAccounts, takeIssuedAccountIds } from '@ec2-restore/local-aws';
import { afterAll, inject } from 'vitest';
import { destroyOpenedClients } from './support/accounts.ts';
import { COMPILED_FOLDER_VARIABLE } from './support/compiled.ts';

// Test files run in worker processes started before the global setup changed process.env: copy the
// addresses it provided into this worker's environment so code that reads REDIS_URL / AWS_ENDPOINT_URL
// (the AWS client factory, the services' config) finds them.
process.env.REDIS_URL = inject('redisUrl');
process.env.AWS_ENDPOINT_URL = inject('awsEndpoint');
process.env[COMPILED_FOLDER_VARIABLE] = inject('compiledFolder');
process.env.AWS_ACCESS_KEY_ID ??= 'testing';
process.env.AWS_SECRET_ACCESS_KEY ??= 'testing';
process.env.AWS_REGION ??= 'eu-west-1';
// Node 20 is this project's platform until AWS SDK releases after January 2027 need Node 22 (README).
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

// Every test uses fresh random accounts; once the file is done (this hook runs after the file's own
// afterAll hooks, which stop its services) the run's emulator forgets them, so its memory stays the
// same however many files run.
// The file's AWS clients (test/support/accounts.ts) are closed first.
afterAll(async () => {
  destroyOpenedClients();
  await forgetTestAccounts(inject('awsEndpoint'), takeIssuedAccountIds());
});
