import { type KMSClient, paginateListGrants, RevokeGrantCommand } from '@aws-sdk/client-kms';
import { ifStillThere } from './not-found.ts';

/** A grant found on a key, by the name the product gave it. */
export interface NamedGrant {
  keyId: string;
  grantId: string;
  createdAt?: Date;
}

/** The grants of `keyId` called `name` (every page of ListGrants). */
export async function findGrantsByName(kms: KMSClient, keyId: string, name: string): Promise<NamedGrant[]> {
  const found: NamedGrant[] = [];
  for await (const page of paginateListGrants({ client: kms }, { KeyId: keyId })) {
    for (const grant of page.Grants ?? []) {
      if (grant.Name !== name || !grant.GrantId) continue;
      found.push({
        keyId,
        grantId: grant.GrantId,
        ...(grant.CreationDate ? { createdAt: grant.CreationDate } : {}),
      });
    }
  }
  return found;
}

/** Revokes a grant; false when it was already gone (KMS `NotFoundException`). */
export function revokeGrant(kms: KMSClient, grant: NamedGrant): Promise<boolean> {
  return ifStillThere(() => kms.send(new RevokeGrantCommand({ KeyId: grant.keyId, GrantId: grant.grantId })));
}
