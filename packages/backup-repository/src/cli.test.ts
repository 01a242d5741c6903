import { describe, expect, it } from 'vitest';
import { parseVolumeArgument, UsageError } from './cli.ts';

describe('parseVolumeArgument', () => {
  it('reads the device, the source and the volume options', () => {
    expect(parseVolumeArgument('--volume', '/dev/xvdb=data.img,type=io2,iops=4000,size=20')).toEqual({
      deviceName: '/dev/xvdb',
      source: 'data.img',
      volumeType: 'io2',
      iops: 4000,
      sizeGiB: 20,
    });
    expect(parseVolumeArgument('--snapshot', '/dev/xvda=snap-0123abcd')).toEqual({
      deviceName: '/dev/xvda',
      source: 'snap-0123abcd',
      volumeType: 'gp3',
    });
  });

  it('names the option and the fix when the value is wrong', () => {
    expect(() => parseVolumeArgument('--volume', 'disk.img')).toThrow(
      /--volume 'disk.img': write it as DEVICE=IMAGE/,
    );
    expect(() => parseVolumeArgument('--volume', 'xvda=disk.img')).toThrow(/use one like \/dev\/xvda/);
    expect(() => parseVolumeArgument('--snapshot', '/dev/xvda=vol-1')).toThrow(/not a snapshot id/);
    expect(() => parseVolumeArgument('--volume', '/dev/xvda=d.img,type=gp9')).toThrow(/type must be one of/);
    expect(() => parseVolumeArgument('--volume', '/dev/xvda=d.img,iops=-1')).toThrow(UsageError);
  });
});
