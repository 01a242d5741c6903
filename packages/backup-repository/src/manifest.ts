import {
  recordedDeviceNameSchema as deviceNameSchema,
  type RestorePointSummary,
  type RestorePointVolumeSummary,
  restorePointIdSchema,
  restorePointInstanceSchema,
  restorePointVolumeSchema,
  type VolumeType,
  volumeTypeSchema,
} from '@ec2-restore/contracts';
import { z } from 'zod';
import { BLOCK_SIZE, BLOCKS_PER_GIB } from './block.ts';
import { migrateManifest } from './manifest-migrations.ts';

/**
 * Manifest format version. Bump it on any change a reader of the previous version would misread (and add
 * a migration from it to manifest-migrations.ts); readers refuse versions they do not know instead of
 * guessing. 2: boot and licensing attributes of the instance, DeleteOnTermination of each volume.
 */
export const MANIFEST_FORMAT_VERSION = 2;

export { deviceNameSchema, restorePointIdSchema, type VolumeType, volumeTypeSchema };

const sha256HexSchema = z.string().regex(/^[0-9a-f]{64}$/, 'a lowercase hex SHA-256 (64 characters)');

/** The backed-up instance (the contracts' shape: the rest of the product reads it from the summary). */
export const instanceMetadataSchema = restorePointInstanceSchema;

/**
 * The block list of a volume is a separate object (one line per block: its SHA-256 in hex, or `0` for a
 * zero block) so that a manifest stays small and a reader streams a volume of any size in bounded memory.
 * The manifest pins the list by its SHA-256.
 */
export const blockListRefSchema = z.object({
  key: z.string().min(1),
  sha256: sha256HexSchema,
});

export const volumeManifestSchema = restorePointVolumeSchema
  .extend({
    blockSize: z.literal(BLOCK_SIZE),
    blockCount: z.number().int().positive(),
    zeroBlockCount: z.number().int().min(0),
    blockList: blockListRefSchema,
  })
  .refine((v) => v.blockCount === v.sizeGiB * BLOCKS_PER_GIB, {
    message: `blockCount must equal sizeGiB x ${BLOCKS_PER_GIB} (512 KiB blocks per GiB)`,
    path: ['blockCount'],
  })
  .refine((v) => v.zeroBlockCount <= v.blockCount, {
    message: 'zeroBlockCount cannot exceed blockCount',
    path: ['zeroBlockCount'],
  });

export const restorePointSourceSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('raw-images') }),
  z.object({ kind: z.literal('ebs-snapshots'), snapshotIds: z.array(z.string()) }),
]);

export const manifestSchema = z
  .object({
    formatVersion: z.literal(MANIFEST_FORMAT_VERSION),
    id: restorePointIdSchema,
    createdAt: z.iso.datetime(),
    description: z.string().optional(),
    source: restorePointSourceSchema,
    instance: instanceMetadataSchema,
    volumes: z.array(volumeManifestSchema).min(1),
  })
  .refine((m) => new Set(m.volumes.map((v) => v.deviceName)).size === m.volumes.length, {
    message: 'each device name may appear once',
    path: ['volumes'],
  })
  .refine((m) => m.volumes.some((v) => v.deviceName === m.instance.rootDeviceName), {
    message: 'the root device name must be one of the volumes',
    path: ['instance', 'rootDeviceName'],
  });

export type InstanceMetadata = z.infer<typeof instanceMetadataSchema>;
export type InstanceMetadataInput = z.input<typeof instanceMetadataSchema>;
export type VolumeManifest = z.infer<typeof volumeManifestSchema>;
export type RestorePointManifest = z.infer<typeof manifestSchema>;
export type RestorePointSource = z.infer<typeof restorePointSourceSchema>;

/** Turns zod issues into one line per field, `path: message`, for errors a person can act on. */
export function describeIssues(error: z.ZodError): string {
  return error.issues
    .map((issue) => `${issue.path.length > 0 ? issue.path.join('.') : '(root)'}: ${issue.message}`)
    .join('; ');
}

export function parseManifest(
  raw: unknown,
): { ok: true; manifest: RestorePointManifest } | { ok: false; error: string } {
  if (typeof raw === 'object' && raw !== null && 'formatVersion' in raw) {
    raw = migrateManifest(raw as Record<string, unknown>, MANIFEST_FORMAT_VERSION);
    const version = (raw as { formatVersion: unknown }).formatVersion;
    if (version !== MANIFEST_FORMAT_VERSION) {
      return {
        ok: false,
        error: `formatVersion ${String(version)} is not supported by this version (it reads ${MANIFEST_FORMAT_VERSION}); upgrade ec2-restore`,
      };
    }
  }
  const parsed = manifestSchema.safeParse(raw);
  return parsed.success
    ? { ok: true, manifest: parsed.data }
    : { ok: false, error: describeIssues(parsed.error) };
}

/** What the catalogue (`GET /v1/restore-points`) and pre-flight need: no block lists. */
export type { RestorePointSummary };
export type VolumeSummary = RestorePointVolumeSummary;

export function summarizeManifest(manifest: RestorePointManifest): RestorePointSummary {
  const volumes = manifest.volumes.map((v): VolumeSummary => {
    const summary: VolumeSummary = {
      deviceName: v.deviceName,
      sizeGiB: v.sizeGiB,
      volumeType: v.volumeType,
      root: v.deviceName === manifest.instance.rootDeviceName,
    };
    if (v.iops !== undefined) summary.iops = v.iops;
    if (v.throughput !== undefined) summary.throughput = v.throughput;
    if (v.deleteOnTermination !== undefined) summary.deleteOnTermination = v.deleteOnTermination;
    return summary;
  });
  const summary: RestorePointSummary = {
    id: manifest.id,
    createdAt: manifest.createdAt,
    instance: manifest.instance,
    volumes,
    totalBytes: manifest.volumes.reduce((sum, v) => sum + v.blockCount * v.blockSize, 0),
    dataBytes: manifest.volumes.reduce((sum, v) => sum + (v.blockCount - v.zeroBlockCount) * v.blockSize, 0),
  };
  if (manifest.description !== undefined) summary.description = manifest.description;
  return summary;
}
