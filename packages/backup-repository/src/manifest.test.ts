import { describe, expect, it } from 'vitest';
import { BLOCKS_PER_GIB } from './block.ts';
import { MANIFEST_FORMAT_VERSION, parseManifest, summarizeManifest } from './manifest.ts';

function validManifest() {
  return {
    formatVersion: MANIFEST_FORMAT_VERSION,
    id: 'rp-1',
    createdAt: '2026-01-02T03:04:05.000Z',
    source: { kind: 'raw-images' },
    instance: {
      instanceType: 't3.micro',
      platform: 'linux',
      architecture: 'x86_64',
      rootDeviceName: '/dev/xvda',
      network: { subnetId: 'subnet-12345678', securityGroupIds: ['sg-12345678'] },
      tags: { Name: 'web' },
    },
    volumes: [
      {
        deviceName: '/dev/xvda',
        sizeGiB: 8,
        volumeType: 'gp3',
        iops: 3000,
        throughput: 125,
        blockSize: 524288,
        blockCount: 8 * BLOCKS_PER_GIB,
        zeroBlockCount: 100,
        blockList: { key: 'restore-points/rp-1/xvda.blocks', sha256: 'a'.repeat(64) },
      },
      {
        deviceName: '/dev/xvdb',
        sizeGiB: 1,
        volumeType: 'io2',
        blockSize: 524288,
        blockCount: BLOCKS_PER_GIB,
        zeroBlockCount: BLOCKS_PER_GIB,
        blockList: { key: 'restore-points/rp-1/xvdb.blocks', sha256: 'b'.repeat(64) },
      },
    ],
  };
}

describe('parseManifest', () => {
  it('accepts a complete manifest and fills defaults', () => {
    const parsed = parseManifest(validManifest());
    expect(parsed.ok).toBe(true);
    if (parsed.ok) expect(parsed.manifest.volumes[1]?.iops).toBeUndefined();
  });

  it('refuses an unknown format version with the remedy', () => {
    const parsed = parseManifest({ ...validManifest(), formatVersion: MANIFEST_FORMAT_VERSION + 1 });
    expect(parsed).toEqual({
      ok: false,
      error: expect.stringMatching(/formatVersion 3 .*upgrade ec2-restore/),
    });
  });

  it('keeps the boot and licensing attributes and DeleteOnTermination', () => {
    const m = validManifest();
    const instance = {
      ...m.instance,
      bootMode: 'uefi',
      enaSupport: true,
      imdsHttpTokens: 'required',
      virtualizationType: 'hvm',
      billing: { platformDetails: 'Windows', usageOperation: 'RunInstances:0002' },
    };
    const volumes = [{ ...m.volumes[0], deleteOnTermination: false }, m.volumes[1]];
    const parsed = parseManifest({ ...m, instance, volumes });
    if (!parsed.ok) throw new Error(parsed.error);
    const summary = summarizeManifest(parsed.manifest);
    expect(summary.instance).toMatchObject({
      bootMode: 'uefi',
      enaSupport: true,
      imdsHttpTokens: 'required',
    });
    expect(summary.instance.billing).toEqual({
      platformDetails: 'Windows',
      usageOperation: 'RunInstances:0002',
    });
    expect(summary.volumes.map((v) => v.deleteOnTermination)).toEqual([false, undefined]);
  });

  it('names the field of a wrong boot or billing attribute', () => {
    const m = validManifest();
    const parsed = parseManifest({
      ...m,
      instance: { ...m.instance, bootMode: 'bios', billing: { usageOperation: 'Windows' } },
    });
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) {
      expect(parsed.error).toMatch(/instance\.bootMode/);
      expect(parsed.error).toMatch(
        /instance\.billing\.usageOperation: a usage operation looks like RunInstances/,
      );
    }
  });
});

describe('format 1 manifests (before boot and licensing attributes)', () => {
  function version1(architecture: string) {
    const m = validManifest();
    return { ...m, formatVersion: 1, instance: { ...m.instance, architecture } };
  }

  it('load as the current format with the attributes unrecorded', () => {
    const parsed = parseManifest(version1('x86_64'));
    if (!parsed.ok) throw new Error(parsed.error);
    expect(parsed.manifest.formatVersion).toBe(MANIFEST_FORMAT_VERSION);
    expect(parsed.manifest.instance.bootMode).toBeUndefined();
    expect(parsed.manifest.instance.billing).toBeUndefined();
    expect(parsed.manifest.volumes[0]?.deleteOnTermination).toBeUndefined();
    expect(parsed.manifest.volumes[0]?.blockList.key).toBe('restore-points/rp-1/xvda.blocks');
  });

  it('record UEFI for arm64, the only mode Graviton boots', () => {
    const parsed = parseManifest(version1('arm64'));
    if (!parsed.ok) throw new Error(parsed.error);
    expect(parsed.manifest.instance.bootMode).toBe('uefi');
  });

  it('are still checked after the migration', () => {
    const m = version1('x86_64');
    const parsed = parseManifest({ ...m, instance: { ...m.instance, rootDeviceName: '/dev/xvdz' } });
    expect(parsed).toEqual({ ok: false, error: expect.stringMatching(/instance\.rootDeviceName/) });
  });

  type Manifest = ReturnType<typeof validManifest>;
  it.each<[string, (m: Manifest) => void, string]>([
    [
      'a block count that does not match the size',
      (m) => {
        m.volumes[0]!.blockCount = 12;
      },
      'volumes.0.blockCount',
    ],
    [
      'a block size other than 512 KiB',
      (m) => {
        m.volumes[0]!.blockSize = 512;
      },
      'volumes.0.blockSize',
    ],
    [
      'a root device that is none of the volumes',
      (m) => {
        m.instance.rootDeviceName = '/dev/sda1';
      },
      'instance.rootDeviceName',
    ],
  ])('refuses %s, naming the field', (_, change, field) => {
    const m = validManifest();
    change(m);
    const parsed = parseManifest(m);
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.error).toContain(field);
  });

  it('refuses duplicate device names and ids with ":"', () => {
    const m = validManifest();
    m.volumes[1]!.deviceName = '/dev/xvda';
    expect(parseManifest(m).ok).toBe(false);
    expect(parseManifest({ ...validManifest(), id: 'rp:1' }).ok).toBe(false);
  });
});

describe('summarizeManifest', () => {
  it('gives sizes, the root flag and the bytes that hold data', () => {
    const parsed = parseManifest(validManifest());
    if (!parsed.ok) throw new Error(parsed.error);
    const summary = summarizeManifest(parsed.manifest);
    expect(summary.volumes).toEqual([
      { deviceName: '/dev/xvda', sizeGiB: 8, volumeType: 'gp3', iops: 3000, throughput: 125, root: true },
      { deviceName: '/dev/xvdb', sizeGiB: 1, volumeType: 'io2', root: false },
    ]);
    expect(summary.totalBytes).toBe(9 * 1024 ** 3);
    expect(summary.dataBytes).toBe((8 * BLOCKS_PER_GIB - 100) * 524288);
    expect(summary).not.toHaveProperty('volumes.0.blockList');
  });
});
