import type { AwsClients } from './client-factory.ts';
import { sdkPackages } from './sdk-packages.ts';

const accounts = new WeakMap<AwsClients, () => Promise<string>>();

/**
 * The account of a client set's credentials (STS GetCallerIdentity), for the EC2 call budget and the AWS
 * call metrics of that set: asked once per client set however many users ask (a failure is asked again
 * next time), not once per user and client.
 */
export function callerAccountOf(clients: AwsClients): () => Promise<string> {
  let ask = accounts.get(clients);
  if (!ask) {
    let account: Promise<string> | undefined;
    ask = () => {
      account ??= sdkAccount(clients).catch((error: unknown) => {
        account = undefined;
        throw error;
      });
      return account;
    };
    accounts.set(clients, ask);
  }
  return ask;
}

async function sdkAccount(clients: AwsClients): Promise<string> {
  const { GetCallerIdentityCommand } = sdkPackages.sts();
  return (await clients.sts.send(new GetCallerIdentityCommand({}))).Account ?? '';
}
