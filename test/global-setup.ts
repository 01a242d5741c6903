import { startLocalStack } from '@ec2-restore/local-aws';
import type { TestProject } from 'vitest/node';
import { COMPILED_FOLDER_VARIABLE, compileEntries } from './support/compiled.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    redisUrl: string;
    awsEndpoint: string;
    /** The folder name of this run's compiled services and CLI (test/support/compiled.ts). */
    compiledFolder: string;
  }
}

/**
 * Starts one redis-server and one AWS emulator for the whole integration run (or uses REDIS_URL /
 * AWS_ENDPOINT_URL when set), shares their addresses with the test files, and stops both at the end.
 * Tests isolate themselves with their own queue prefixes, Redis key prefixes and random account ids.
 * Meanwhile it compiles the worker services and the CLI the tests start as processes (removed at the end).
 */
export default async function setup(project: TestProject) {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const compiledFolder = `.test-build-${process.pid}`;
  const [started, compiled] = await Promise.allSettled([startLocalStack(), compileEntries(compiledFolder)]);
  if (started.status === 'rejected' || compiled.status === 'rejected') {
    if (started.status === 'fulfilled') await started.value.stop();
    if (compiled.status === 'fulfilled') compiled.value();
    throw started.status === 'rejected' ? started.reason : (compiled as PromiseRejectedResult).reason;
  }
  const stack = started.value;
  const removeCompiled = compiled.value;
  process.env[COMPILED_FOLDER_VARIABLE] = compiledFolder;
  process.env.REDIS_URL = stack.redisUrl;
  process.env.AWS_ENDPOINT_URL = stack.awsEndpoint;
  // The SDK wants some credentials and a region even when each test passes its own.
  process.env.AWS_ACCESS_KEY_ID ??= 'testing';
  process.env.AWS_SECRET_ACCESS_KEY ??= 'testing';
  process.env.AWS_REGION ??= 'eu-west-1';
  project.provide('redisUrl', stack.redisUrl);
  project.provide('awsEndpoint', stack.awsEndpoint);
  project.provide('compiledFolder', compiledFolder);
  return async () => {
    const memory = stack.emulatorMemory();
    await stack.stop();
    removeCompiled();
    if (memory) {
      const mib = (bytes: number) => `${Math.round(bytes / 1024 / 1024)} MiB`;
      process.stdout.write(
        `\nLocal AWS emulator memory: peak RSS ${mib(memory.peakRssBytes)}, at the end ${mib(memory.rssBytes)}\n`,
      );
    }
  };
}
