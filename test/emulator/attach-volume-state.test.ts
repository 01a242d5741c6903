import { AttachVolumeCommand, CreateVolumeCommand, DescribeVolumesCommand } from '@aws-sdk/client-ec2';
import { onceVisible } from '@ec2-restore/local-aws';
import { describe, expect, it } from 'vitest';
import { expectAwsError, launchInstance, newAccount, volumeInState, ZONE } from '../support/index.ts';

// "The volume state must be available before you can attach it"
// (https://docs.aws.amazon.com/ebs/latest/userguide/ebs-attaching-volume.html); AWS answers
// AttachVolume on a `creating` volume with HTTP 400 IncorrectState "vol-… is not 'available'.".
// Plain moto 5.2.1 has no `creating` state and attaches at once.

describe('AttachVolume', () => {
  it('refuses a volume that is still creating (IncorrectState), attaches it once available', async () => {
    const account = newAccount();
    // launchInstance launches into the default subnet of ZONE.
    const instanceId = await launchInstance(account);
    const { VolumeId, State } = await account.aws.ec2.send(
      new CreateVolumeCommand({ AvailabilityZone: ZONE, Size: 1 }),
    );
    expect(State).toBe('creating');
    // New ids answer NotFound for a moment (eventual-consistency.test.ts); the volume is `creating` longer.
    await onceVisible(() => account.aws.ec2.send(new DescribeVolumesCommand({ VolumeIds: [VolumeId!] })));
    const attach = () =>
      account.aws.ec2.send(new AttachVolumeCommand({ VolumeId, InstanceId: instanceId, Device: '/dev/sdf' }));
    const error = await expectAwsError(attach(), 'IncorrectState', `${VolumeId} is not 'available'.`);
    expect(error.$metadata?.httpStatusCode).toBe(400);
    await volumeInState(account, VolumeId!);
    const attached = await attach();
    expect(attached.VolumeId).toBe(VolumeId);
  });
});
