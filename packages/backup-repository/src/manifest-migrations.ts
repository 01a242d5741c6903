/**
 * Manifests written by older versions, brought to the current format on read. A manifest is never
 * rewritten in the store (it is immutable once written); each reader migrates it in memory, one
 * version at a time, so a format-1 manifest passes every step up to the current one.
 */

/** Format 1 knew no boot or licensing attributes and no DeleteOnTermination. */
function fromVersion1(manifest: Record<string, unknown>): Record<string, unknown> {
  const instance = { ...((manifest.instance ?? {}) as Record<string, unknown>) };
  // Graviton (arm64) instance types boot UEFI only, so an arm64 restore point can only have booted
  // UEFI (https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/ami-boot.html). For x86 the mode was not
  // recorded and stays unknown: the restore says so instead of guessing.
  if (instance.architecture === 'arm64' && instance.bootMode === undefined) instance.bootMode = 'uefi';
  return { ...manifest, formatVersion: 2, instance };
}

/** Migrations by the version they read; each returns the next version. */
const migrations: Record<number, (manifest: Record<string, unknown>) => Record<string, unknown>> = {
  1: fromVersion1,
};

/**
 * The manifest in format `target`, or the version it has when no migration reaches `target` (the
 * caller refuses it: a newer format than this version knows).
 */
export function migrateManifest(raw: Record<string, unknown>, target: number): Record<string, unknown> {
  let manifest = raw;
  while (manifest.formatVersion !== target) {
    const migrate = migrations[manifest.formatVersion as number];
    if (!migrate) return manifest;
    manifest = migrate(manifest);
  }
  return manifest;
}
