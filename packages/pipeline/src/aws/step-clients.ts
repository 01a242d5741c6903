import {
  type AwsClients,
  type AwsCredentials,
  assumeRoleCredentials,
  createAwsClients,
} from '@ec2-restore/aws-clients';

/** Who a step acts as: the worker role (source account) or the restore role (target account). */
export interface StepClients {
  /** Clients of the worker role in the target region (where snapshots are written and shared). */
  source(region: string): AwsClients;
  /**
   * Clients in the target account: the worker role itself for the same account, else the restore
   * role assumed with STS AssumeRole (and ExternalId when given).
   */
  target(target: { region: string; roleArn?: string; externalId?: string; restoreId: string }): AwsClients;
  /** Closes every client made. */
  destroy(): void;
}

export interface StepClientsOptions {
  /** Worker role credentials. @defaultValue the SDK's default chain */
  credentials?: AwsCredentials;
  /** @defaultValue `process.env.AWS_ENDPOINT_URL` */
  endpoint?: string;
}

/** Clients cached per (region, role), so a worker reuses sockets and assumed-role sessions. */
export function createStepClients(options: StepClientsOptions = {}): StepClients {
  const cache = new Map<string, AwsClients>();
  const base = {
    ...(options.credentials ? { credentials: options.credentials } : {}),
    ...(options.endpoint ? { endpoint: options.endpoint } : {}),
  };
  const cached = (key: string, make: () => AwsClients) => {
    let clients = cache.get(key);
    if (!clients) {
      clients = make();
      cache.set(key, clients);
    }
    return clients;
  };
  return {
    source(region) {
      return cached(`source|${region}`, () => createAwsClients({ region, ...base }));
    },
    target({ region, roleArn, externalId, restoreId }) {
      if (!roleArn) return this.source(region);
      return cached(`target|${region}|${roleArn}|${externalId ?? ''}`, () =>
        createAwsClients({
          region,
          ...base,
          credentials: assumeRoleCredentials({
            region,
            roleArn,
            ...(externalId ? { externalId } : {}),
            sessionName: `ec2-restore-${restoreId}`,
            ...(options.credentials ? { sourceCredentials: options.credentials } : {}),
            ...(options.endpoint ? { endpoint: options.endpoint } : {}),
          }),
        }),
      );
    },
    destroy() {
      for (const clients of cache.values()) clients.destroy();
      cache.clear();
    },
  };
}
