/**
 * The restore point as the rest of the product sees it: the backed-up instance and its volumes, without
 * the block lists (those stay inside `packages/backup-repository`, whose manifest extends these schemas).
 * The catalogue (`GET /v1/restore-points`), the pre-flight checks, the restore flow and the jobs all use
 * these shapes, and the one rule that picks a restore's volumes.
 */
import { z } from 'zod';

/** Restore point ids end up in BullMQ job ids and S3 keys: no `:` and no `/`. */
export const restorePointIdSchema = z
  .string()
  .regex(
    /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/,
    'use letters, digits, ".", "_" and "-" only (no ":" or "/"), at most 128 characters',
  );

/**
 * A device name as the backed-up instance had it. Wider than the request's `deviceNameSchema` (which
 * lists the names EC2 accepts for an attachment): a backup records what the instance had, e.g. NVMe names.
 */
export const recordedDeviceNameSchema = z
  .string()
  .regex(/^\/dev\/[a-z0-9]+$/, 'a device name looks like /dev/xvda, /dev/sdf or /dev/nvme1n1');

/** Bytes in a GiB: volume sizes are whole GiB, progress and data are bytes. */
export const GIB = 2 ** 30;

export const volumeTypeSchema = z.enum(['gp2', 'gp3', 'io1', 'io2', 'st1', 'sc1', 'standard']);
export type VolumeType = z.infer<typeof volumeTypeSchema>;

export const platformSchema = z.enum(['linux', 'windows']);
export const architectureSchema = z.enum(['x86_64', 'arm64', 'i386', 'x86_64_mac', 'arm64_mac']);

/**
 * How the instance's firmware boots its root volume: the image fixes it and a root swap cannot change
 * it (https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/ami-boot.html). `uefi-preferred` is an image
 * setting: UEFI where the instance type supports it.
 */
export const bootModeSchema = z.enum(['legacy-bios', 'uefi', 'uefi-preferred']);
export type BootMode = z.infer<typeof bootModeSchema>;

/** IMDS: `required` is IMDSv2 only (the image's `ImdsSupport v2.0`), `optional` allows IMDSv1 too. */
export const imdsHttpTokensSchema = z.enum(['required', 'optional']);
export const virtualizationTypeSchema = z.enum(['hvm', 'paravirtual']);

/**
 * What AWS bills the instance as, as DescribeImages / DescribeInstances report it
 * (https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/billing-info-fields.html): `Linux/UNIX` with
 * `RunInstances` is unlicensed; Windows is `RunInstances:0002`, SQL Server and RHEL/SUSE have their own.
 */
export const billingSchema = z.object({
  platformDetails: z
    .string()
    .min(1)
    .optional()
    .describe('e.g. "Linux/UNIX", "Windows", "Red Hat Enterprise Linux".'),
  usageOperation: z
    .string()
    .regex(
      /^RunInstances(:[0-9A-Za-z]{4})?$/,
      'a usage operation looks like RunInstances or RunInstances:0002',
    )
    .optional(),
  billingProducts: z
    .array(z.string().regex(/^bp-[0-9a-f]+$/, 'a billing product code looks like bp-6fa54006'))
    .optional()
    .describe('Billing product codes (RHEL, SUSE, Windows BYOL…) where AWS exposes them.'),
});
export type Billing = z.infer<typeof billingSchema>;

/** The backed-up instance: what a restore needs to launch one that boots like it. */
export const restorePointInstanceSchema = z.object({
  instanceType: z.string().min(1),
  platform: platformSchema,
  architecture: architectureSchema,
  rootDeviceName: recordedDeviceNameSchema,
  // Boot and licensing attributes (manifest format 2). Absent in restore points made before they were
  // recorded: the restore then falls back to the image's or instance type's defaults and says so.
  bootMode: bootModeSchema.optional(),
  enaSupport: z.boolean().optional(),
  imdsHttpTokens: imdsHttpTokensSchema.optional(),
  virtualizationType: virtualizationTypeSchema.optional(),
  billing: billingSchema.optional(),
  network: z.object({
    vpcId: z.string().optional(),
    subnetId: z.string().optional(),
    availabilityZone: z.string().optional(),
    securityGroupIds: z.array(z.string()).default([]),
    privateIpAddress: z.string().optional(),
  }),
  tags: z.record(z.string(), z.string()).default({}),
});
export type RestorePointInstance = z.infer<typeof restorePointInstanceSchema>;

/** The attributes a launch strategy reads (besides architecture, platform and root device name). */
export type LaunchAttribute = 'bootMode' | 'enaSupport' | 'imdsHttpTokens' | 'virtualizationType' | 'billing';

/** One backed-up volume as EBS must recreate it. */
export const restorePointVolumeSchema = z.object({
  deviceName: recordedDeviceNameSchema,
  sizeGiB: z.number().int().min(1).max(65_536),
  volumeType: volumeTypeSchema,
  iops: z.number().int().positive().optional(),
  throughput: z.number().int().positive().optional(),
  /** As the backed-up instance had it; absent in older restore points (root: true, others: false). */
  deleteOnTermination: z.boolean().optional(),
});
export type RestorePointVolume = z.infer<typeof restorePointVolumeSchema>;

/** One restore point of the catalogue (`GET /v1/restore-points`, `GET /v1/restore-points/{id}`). */
export const restorePointSummarySchema = z.object({
  id: z.string(),
  createdAt: z.iso.datetime(),
  description: z.string().optional(),
  instance: restorePointInstanceSchema,
  volumes: z.array(
    restorePointVolumeSchema.extend({ root: z.boolean().describe('The root volume of the instance.') }),
  ),
  totalBytes: z.number().int().nonnegative().describe('Sum of the volume sizes, in bytes.'),
  dataBytes: z
    .number()
    .int()
    .nonnegative()
    .describe('Bytes of non-zero blocks: what actually has to be stored and transferred.'),
});
export type RestorePointSummary = z.infer<typeof restorePointSummarySchema>;
export type RestorePointVolumeSummary = RestorePointSummary['volumes'][number];

/**
 * What a restore needs of its restore point (a `RestorePointSummary` fits): the instance's boot
 * attributes and the volumes. The pre-flight facts, the flow and the API take this.
 */
export interface RestorePointShape {
  instance: Pick<RestorePointInstance, 'instanceType' | 'rootDeviceName' | 'architecture' | 'platform'> &
    Partial<Pick<RestorePointInstance, LaunchAttribute | 'tags'>>;
  volumes: readonly RestorePointVolume[];
}

/** The volumes a restore writes, and the requested device names the restore point does not have. */
export interface VolumeSelection<V extends { deviceName: string }> {
  /** In the restore point's order. */
  selected: V[];
  /** Requested but not in the restore point: an input error (the `restore-point.volumes` check). */
  unknown: string[];
}

/**
 * The one rule that picks a restore's volumes: every volume of the restore point, or, for a
 * volume-level restore (`volumes` in the request), those named. A name the restore point does not
 * have is reported, never dropped silently: the pre-flight check fails on it, the flow refuses it.
 */
export function selectVolumes<V extends { deviceName: string }>(
  volumes: readonly V[],
  requested: readonly string[] | undefined,
): VolumeSelection<V> {
  if (!requested) return { selected: [...volumes], unknown: [] };
  const known = new Set(volumes.map((v) => v.deviceName));
  return {
    selected: volumes.filter((v) => requested.includes(v.deviceName)),
    unknown: requested.filter((device) => !known.has(device)),
  };
}
