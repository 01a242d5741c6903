import { resolveEndpoint } from '@ec2-restore/aws-clients';
import { startEmulator } from './emulator.ts';
import { type RunningRedis, type StartRedisOptions, startRedis } from './redis.ts';

export interface LocalStack {
  redisUrl: string;
  /** The AWS endpoint override every client uses (the emulator, or the caller's AWS_ENDPOINT_URL). */
  awsEndpoint: string;
  /** What was started here rather than taken from the environment. */
  started: { redis: RunningRedis['kind']; emulator: boolean };
  /** The started emulator's memory now and at its peak, in bytes (undefined when none was started). */
  emulatorMemory(): { rssBytes: number; peakRssBytes: number } | undefined;
  /** Stops everything this call started, in reverse order; idempotent. */
  stop(): Promise<void>;
}

export interface StartLocalStackOptions {
  redis?: StartRedisOptions;
  /**
   * Use this AWS endpoint instead of starting the emulator.
   * @defaultValue `process.env.AWS_ENDPOINT_URL`
   */
  awsEndpoint?: string;
  /** Lines the emulator prints (its request log), e.g. to a file. */
  emulatorLog?: (line: string) => void;
}

/**
 * Redis and the AWS emulator for tests and the embedded default. Each comes from the environment when
 * given (REDIS_URL, AWS_ENDPOINT_URL), else is started here on a free loopback port, so two runs at once
 * do not collide and nothing outlives the caller.
 */
export async function startLocalStack(options: StartLocalStackOptions = {}): Promise<LocalStack> {
  const redis = await startRedis(options.redis);
  const givenEndpoint = resolveEndpoint(options.awsEndpoint);
  let emulator: Awaited<ReturnType<typeof startEmulator>> | undefined;
  try {
    if (!givenEndpoint)
      emulator = await startEmulator(options.emulatorLog ? { log: options.emulatorLog } : {});
  } catch (error) {
    await redis.stop();
    throw error;
  }
  const awsEndpoint = givenEndpoint ?? emulator!.endpoint;
  let stopped = false;
  return {
    redisUrl: redis.url,
    awsEndpoint,
    started: { redis: redis.kind, emulator: emulator !== undefined },
    emulatorMemory: () => emulator?.memory(),
    async stop() {
      if (stopped) return;
      stopped = true;
      await Promise.allSettled([emulator?.stop(), redis.stop()]);
    },
  };
}
