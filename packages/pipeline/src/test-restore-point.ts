import type { RestorePointShape } from '@ec2-restore/contracts';

/**
 * For the unit tests of this package: a restore point of a Linux instance with three volumes, root
 * /dev/xvda (8 GiB gp3), /dev/xvdb (2 GiB gp3), /dev/xvdc (1 GiB io2, 3000 IOPS).
 */
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
    { deviceName: '/dev/xvdc', sizeGiB: 1, volumeType: 'io2', iops: 3000 },
  ],
};
