import { stat } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * On Nitro instances an attached EBS volume shows up as an NVMe device whose serial is the volume id
 * without its dash; udev links it as /dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_vol0123...
 * https://docs.aws.amazon.com/ebs/latest/userguide/identify-nvme-ebs-device.html
 */
export function ebsNvmeDevicePath(volumeId: string): string {
  if (!/^vol-[0-9a-f]+$/.test(volumeId)) {
    throw new Error(`'${volumeId}' is not an EBS volume id; expected one like vol-0123456789abcdef0`);
  }
  return `/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_${volumeId.replace('-', '')}`;
}

/**
 * Where the block device of a volume is: `<deviceFolder>/<volumeId>` when a device folder is configured
 * (tests and non-Nitro setups map volume ids to files there), else the NVMe by-id link.
 */
export function resolveDevicePath(volumeId: string, deviceFolder?: string): string {
  if (deviceFolder !== undefined && deviceFolder !== '') {
    if (!/^vol-[0-9a-f]+$/.test(volumeId)) {
      throw new Error(`'${volumeId}' is not an EBS volume id; expected one like vol-0123456789abcdef0`);
    }
    return join(deviceFolder, volumeId);
  }
  return ebsNvmeDevicePath(volumeId);
}

/** Waits for the device to appear after an attach (udev creates the link a moment after AttachVolume). */
export async function waitForDevice(path: string, timeoutMs: number, signal?: AbortSignal): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await stat(path);
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    if (signal?.aborted) throw signal.reason;
    if (Date.now() >= deadline) {
      throw new Error(
        `Device ${path} did not appear within ${Math.round(timeoutMs / 1000)} s: check that the volume is attached to this instance (or that the device folder holds a file named after the volume id).`,
      );
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}
