/**
 * Where a sweep looks: the source account in every region restores use, and each target account
 * through its restore role, each (account, region) once.
 */
import { GetCallerIdentityCommand } from '@aws-sdk/client-sts';
import { type AwsClients, assumeRoleCredentials, createAwsClients } from '@ec2-restore/aws-clients';
import type { RestoreStore } from '@ec2-restore/restore-state';
import type { LocationError, SweepSource, SweepTarget } from './sweep-report.ts';

/** One account and region, with clients that act there. */
export interface SweepLocation {
  accountId: string;
  region: string;
  roleArn?: string;
  clients: AwsClients;
}

function accountIdOfRole(roleArn: string): string | undefined {
  return /^arn:[\w-]+:iam::(\d{12}):role\//.exec(roleArn)?.[1];
}

interface RestoreRequestTarget {
  target?: { roleArn?: string; externalId?: string; region?: string };
}

/**
 * The configured targets plus the roles named by stored restores, one per (role, region), and every
 * region a stored restore or a target names (same-account restores have no role but a region).
 */
async function collectTargets(store: RestoreStore, configured: readonly SweepTarget[], limit: number) {
  const restores = await store.list<RestoreRequestTarget>({ limit });
  const regions = new Set(configured.map((t) => t.region));
  for (const { request } of restores) if (request?.target?.region) regions.add(request.target.region);
  const fromRecords: SweepTarget[] = restores.flatMap(({ request }) => {
    const target = request?.target;
    if (!target?.roleArn || !target.region) return [];
    return [
      {
        roleArn: target.roleArn,
        region: target.region,
        ...(target.externalId ? { externalId: target.externalId } : {}),
      },
    ];
  });
  const byKey = new Map<string, SweepTarget>();
  for (const target of [...configured, ...fromRecords]) {
    const key = `${target.roleArn}|${target.region}`;
    if (!byKey.has(key)) byKey.set(key, target);
  }
  return { targets: [...byKey.values()], regions };
}

export interface OpenLocationsOptions {
  store: RestoreStore;
  source: SweepSource;
  targets: readonly SweepTarget[];
  restoresToScan: number;
  /** Every client opened is added here, for the caller to destroy (also when this throws). */
  opened: AwsClients[];
}

/** The locations to search, and the targets that could not be turned into one. */
export async function openLocations(
  options: OpenLocationsOptions,
): Promise<{ locations: SweepLocation[]; errors: LocationError[] }> {
  const { targets, regions } = await collectTargets(options.store, options.targets, options.restoresToScan);
  const { endpoint, credentials } = options.source;
  const open = (clients: AwsClients) => {
    options.opened.push(clients);
    return clients;
  };
  const sourceClients = (region: string) =>
    open(
      createAwsClients({
        region,
        ...(credentials ? { credentials } : {}),
        ...(endpoint ? { endpoint } : {}),
      }),
    );

  const locations: SweepLocation[] = [];
  const errors: LocationError[] = [];
  const home = sourceClients(options.source.region);
  const identity = await home.sts.send(new GetCallerIdentityCommand({}));
  const sourceAccountId = identity.Account ?? '';
  locations.push({ accountId: sourceAccountId, region: options.source.region, clients: home });
  for (const region of regions) {
    if (region === options.source.region) continue;
    locations.push({ accountId: sourceAccountId, region, clients: sourceClients(region) });
  }
  const seen = new Set(locations.map((l) => `${l.accountId}|${l.region}`));
  for (const target of targets) {
    const accountId = accountIdOfRole(target.roleArn);
    if (!accountId) {
      errors.push({
        roleArn: target.roleArn,
        region: target.region,
        error: 'not an IAM role ARN (arn:aws:iam::<12-digit account>:role/<name>)',
      });
      continue;
    }
    // Each (account, region) is searched once, whichever role leads there.
    if (seen.has(`${accountId}|${target.region}`)) continue;
    seen.add(`${accountId}|${target.region}`);
    const clients = createAwsClients({
      region: target.region,
      credentials: assumeRoleCredentials({
        roleArn: target.roleArn,
        region: target.region,
        sessionName: 'ec2-restore-sweep',
        ...(target.externalId ? { externalId: target.externalId } : {}),
        ...(credentials ? { sourceCredentials: credentials } : {}),
        ...(endpoint ? { endpoint } : {}),
      }),
      ...(endpoint ? { endpoint } : {}),
    });
    locations.push({ accountId, region: target.region, roleArn: target.roleArn, clients: open(clients) });
  }
  return { locations, errors };
}
