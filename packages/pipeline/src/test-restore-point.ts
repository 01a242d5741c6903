import type { RestorePointShape } from '@ec2-restore/contracts';

/** A restore point of two volumes (root and data), for the pipeline's unit tests. */
export const testRestorePoint: RestorePointShape = {
  instance: {
    instanceType: 't3.micro',
    rootDeviceName: '/dev/xvda',
    architecture: 'x86_64',
    platform: 'linux',
  },
  volumes: [
    { deviceName: '/dev/xvda', sizeGiB: 8, volumeType: 'gp3' },
    { deviceName: '/dev/xvdb', sizeGiB: 2, volumeType: 'gp3' },
  ],
};
