import type { Check, CheckId } from '@ec2-restore/contracts';
import { describe, expect, it } from 'vitest';
import { runChecks } from './checks.ts';
import type { PreflightFacts } from './facts.ts';
import { planFromFacts } from './plan-steps.ts';
import { foundInstanceType, restorePoint, sameAccountFacts } from './test-facts.ts';

function check(facts: PreflightFacts, id: CheckId): Check | undefined {
  return runChecks(facts).find((c) => c.id === id);
}

function withInstance(facts: PreflightFacts, instance: Partial<PreflightFacts['restorePoint']['instance']>) {
  facts.restorePoint = { ...restorePoint, instance: { ...restorePoint.instance, ...instance } };
  return facts;
}

describe('instance.ena: the instance type can boot the restore point', () => {
  it('an ENA-requiring type and a restore point without ENA fails, with a remedy naming the choice', () => {
    const facts = withInstance(sameAccountFacts({ instance: { instanceType: 'm6i.large' } }), {
      enaSupport: false,
    });
    facts.instanceType = foundInstanceType('m6i.large', { enaSupport: 'required' });
    const ena = check(facts, 'instance.ena');
    expect(ena?.status).toBe('fail');
    expect(ena?.message).toMatch(/m6i\.large requires ENA.*EnaSupport false/);
    expect(ena?.remedy?.summary).toMatch(/instance type that does not require ENA/);
    expect(ena?.remedy?.commands?.[0]).toContain('network-info.ena-support');
    expect(planFromFacts(facts).ok).toBe(false);
  });

  it('a type that merely supports ENA passes the same restore point', () => {
    const facts = withInstance(sameAccountFacts(), { enaSupport: false });
    facts.instanceType = foundInstanceType('t2.micro', { enaSupport: 'supported' });
    expect(check(facts, 'instance.ena')?.status).toBe('pass');
  });

  it('a UEFI restore point on a type that boots legacy BIOS only fails', () => {
    const facts = withInstance(sameAccountFacts(), { bootMode: 'uefi' });
    facts.instanceType = foundInstanceType('t2.micro', { bootModes: ['legacy-bios'] });
    const boot = check(facts, 'instance.ena');
    expect(boot?.status).toBe('fail');
    expect(boot?.message).toMatch(/booted uefi/);
  });

  it('ENA not recorded on an ENA-requiring type warns how to record it', () => {
    const facts = withInstance(sameAccountFacts(), { enaSupport: undefined });
    facts.instanceType = foundInstanceType('m6i.large', { enaSupport: 'required' });
    expect(check(facts, 'instance.ena')).toMatchObject({
      status: 'warn',
      remedy: { summary: expect.stringMatching(/--ena-support/) },
    });
  });
});

describe('instance.launch-strategy and the plan', () => {
  it('Linux without a licence: register-image, shown in the plan with an image step', () => {
    const plan = planFromFacts(sameAccountFacts());
    expect(plan.launch).toMatchObject({ strategy: 'register-image' });
    expect(plan.steps.map((s) => s.name)).toContain('register-image');
    expect(plan.resources.find((r) => r.kind === 'ec2-image')).toMatchObject({ temporary: true });
  });

  it('Windows: launch-and-swap; asking for register-image fails the check', () => {
    const windows = {
      platform: 'windows' as const,
      billing: { platformDetails: 'Windows', usageOperation: 'RunInstances:0002' },
    };
    expect(planFromFacts(withInstance(sameAccountFacts(), windows)).launch?.strategy).toBe('launch-and-swap');
    const asked = withInstance(sameAccountFacts({ instance: { launchStrategy: 'register-image' } }), windows);
    const strategy = check(asked, 'instance.launch-strategy');
    expect(strategy?.status).toBe('fail');
    expect(strategy?.message).toMatch(/cannot keep the licence of Windows \(RunInstances:0002\)/);
  });

  it('a restore point without a recorded boot mode warns', () => {
    const facts = withInstance(sameAccountFacts(), { bootMode: undefined });
    expect(check(facts, 'instance.launch-strategy')?.status).toBe('warn');
  });

  it('a volume-level restore launches nothing', () => {
    const facts = sameAccountFacts({
      volumes: ['/dev/xvdf'],
      instance: { instanceId: 'i-0123456789abcdef0' },
    });
    expect(check(facts, 'instance.launch-strategy')).toBeUndefined();
    expect(planFromFacts(facts).launch).toBeNull();
  });
});

describe('permissions of the launch strategy', () => {
  /** The worker role may use EC2, EBS direct and KMS, but not SSM. */
  function withoutSsm(facts: PreflightFacts): PreflightFacts {
    const worker = facts.worker.principal;
    if (worker) {
      worker.identityPolicies = [
        { Statement: [{ Effect: 'Allow', Action: ['ec2:*', 'ebs:*', 'kms:*'], Resource: '*' }] },
      ];
    }
    return facts;
  }

  it("launch-and-swap (Windows) needs AWS's public SSM parameters: without them pre-flight fails naming the action", () => {
    const facts = withoutSsm(withInstance(sameAccountFacts(), { platform: 'windows' }));
    const permissions = check(facts, 'permissions.worker-role');
    expect(permissions?.status).toBe('fail');
    expect(permissions?.message).toContain('ssm:GetParametersByPath');
    expect(permissions?.remedy?.policy?.statements[0]?.Action).toEqual(['ssm:GetParametersByPath']);
  });

  it('register-image (Linux) and a volume-level restore do not ask for SSM', () => {
    expect(check(withoutSsm(sameAccountFacts()), 'permissions.worker-role')?.status).toBe('pass');
    const volumes = withoutSsm(
      withInstance(sameAccountFacts({ volumes: ['/dev/xvdf'] }), { platform: 'windows' }),
    );
    expect(check(volumes, 'permissions.worker-role')?.status).toBe('pass');
  });
});
