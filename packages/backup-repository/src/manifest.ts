import { z } from 'zod';
import { BLOCK_SIZE, BLOCKS_PER_GIB } from './block.ts';

/**
 * Manifest format version. Bump it on any change a reader of the previous version would misread; readers
 * refuse versions they do not know instead of guessing.
 */
export const MANIFEST_FORMAT_VERSION = 1;

/** Restore point ids end up in BullMQ job ids and S3 keys: no `:` and no `/`. */
export const restorePointIdSchema = z
  .string()
  .regex(
    /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/,
    'use letters, digits, ".", "_" and "-" only (no ":" or "/"), at most 128 characters',
  );

export const deviceNameSchema = z
  .string()
  .regex(/^\/dev\/[a-z0-9]+$/, 'a device name looks like /dev/xvda, /dev/sdf or /dev/nvme1n1');

const sha256HexSchema = z.string().regex(/^[0-9a-f]{64}$/, 'a lowercase hex SHA-256 (64 characters)');

export const volumeTypeSchema = z.enum(['gp2', 'gp3', 'io1', 'io2', 'st1', 'sc1', 'standard']);

export const instanceMetadataSchema = z.object({
  instanceType: z.string().min(1),
  platform: z.enum(['linux', 'windows']),
  architecture: z.enum(['x86_64', 'arm64', 'i386', 'x86_64_mac', 'arm64_mac']),
  rootDeviceName: deviceNameSchema,
  network: z.object({
    vpcId: z.string().optional(),
    subnetId: z.string().optional(),
    availabilityZone: z.string().optional(),
    securityGroupIds: z.array(z.string()).default([]),
    privateIpAddress: z.string().optional(),
  }),
  tags: z.record(z.string(), z.string()).default({}),
});

/**
 * The block list of a volume is a separate object (one line per block: its SHA-256 in hex, or `0` for a
 * zero block) so that a manifest stays small and a reader streams a volume of any size in bounded memory.
 * The manifest pins the list by its SHA-256.
 */
export const blockListRefSchema = z.object({
  key: z.string().min(1),
  sha256: sha256HexSchema,
});

export const volumeManifestSchema = z
  .object({
    deviceName: deviceNameSchema,
    sizeGiB: z.number().int().min(1).max(65_536),
    volumeType: volumeTypeSchema,
    iops: z.number().int().positive().optional(),
    throughput: z.number().int().positive().optional(),
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
export type VolumeType = z.infer<typeof volumeTypeSchema>;

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
export interface RestorePointSummary {
  id: string;
  createdAt: string;
  description?: string;
  instance: InstanceMetadata;
  volumes: VolumeSummary[];
  /** Sum of the volume sizes, in bytes. */
  totalBytes: number;
  /** Bytes of non-zero blocks: what actually has to be stored and transferred. */
  dataBytes: number;
}

export interface VolumeSummary {
  deviceName: string;
  sizeGiB: number;
  volumeType: VolumeType;
  iops?: number;
  throughput?: number;
  root: boolean;
}

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
