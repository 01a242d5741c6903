import type { Image, Instance } from '@aws-sdk/client-ec2';
import { describe, expect, it } from 'vitest';
import { attributesFromImage, attributesFromInstance } from './instance-attributes.ts';
import { instanceMetadataSchema } from './manifest.ts';

const image: Image = {
  ImageId: 'ami-0123',
  Architecture: 'x86_64',
  BootMode: 'uefi-preferred',
  EnaSupport: true,
  ImdsSupport: 'v2.0',
  VirtualizationType: 'hvm',
  RootDeviceName: '/dev/sda1',
  Platform: 'Windows',
  PlatformDetails: 'Windows',
  UsageOperation: 'RunInstances:0002',
  BlockDeviceMappings: [{ DeviceName: '/dev/sda1', Ebs: { DeleteOnTermination: true } }],
};

const instance: Instance = {
  InstanceId: 'i-0123',
  InstanceType: 'm6i.large',
  Architecture: 'x86_64',
  Platform: 'Windows',
  RootDeviceName: '/dev/sda1',
  BootMode: 'uefi-preferred',
  CurrentInstanceBootMode: 'uefi',
  EnaSupport: true,
  MetadataOptions: { HttpTokens: 'optional' },
  VirtualizationType: 'hvm',
  PlatformDetails: 'Windows with SQL Server Standard',
  UsageOperation: 'RunInstances:0006',
  SubnetId: 'subnet-1',
  VpcId: 'vpc-1',
  SecurityGroups: [{ GroupId: 'sg-1' }],
  Tags: [
    { Key: 'Name', Value: 'db-1' },
    { Key: 'aws:cloudformation:stack-name', Value: 'stack' },
  ],
  BlockDeviceMappings: [
    { DeviceName: '/dev/sda1', Ebs: { DeleteOnTermination: false } },
    { DeviceName: '/dev/xvdf', Ebs: { DeleteOnTermination: true } },
  ],
};

describe('boot and licensing attributes from EC2', () => {
  it('an image gives its boot mode, ENA, IMDS, billing and mappings', () => {
    const { instance: attributes, deleteOnTermination } = attributesFromImage(image);
    expect(attributes).toMatchObject({
      platform: 'windows',
      bootMode: 'uefi-preferred',
      enaSupport: true,
      imdsHttpTokens: 'required',
      billing: { platformDetails: 'Windows', usageOperation: 'RunInstances:0002' },
    });
    expect(deleteOnTermination).toEqual({ '/dev/sda1': true });
  });

  it("an instance's own answer wins over its image: the mode it booted, its IMDS, billing and mappings", () => {
    const recorded = attributesFromInstance(instance, image);
    expect(recorded.instance).toMatchObject({
      instanceType: 'm6i.large',
      bootMode: 'uefi',
      imdsHttpTokens: 'optional',
      billing: { platformDetails: 'Windows with SQL Server Standard', usageOperation: 'RunInstances:0006' },
      network: { subnetId: 'subnet-1', vpcId: 'vpc-1', securityGroupIds: ['sg-1'] },
      tags: { Name: 'db-1' },
    });
    expect(recorded.deleteOnTermination).toEqual({ '/dev/sda1': false, '/dev/xvdf': true });
    // What is read is a valid manifest instance as it stands.
    expect(instanceMetadataSchema.safeParse(recorded.instance).success).toBe(true);
  });

  it('a Linux instance without an image still records what it reports', () => {
    const { instance: attributes } = attributesFromInstance({
      ...instance,
      Platform: undefined,
      PlatformDetails: 'Linux/UNIX',
      UsageOperation: 'RunInstances',
    });
    expect(attributes.platform).toBe('linux');
    expect(attributes.billing).toEqual({ platformDetails: 'Linux/UNIX', usageOperation: 'RunInstances' });
  });
});
