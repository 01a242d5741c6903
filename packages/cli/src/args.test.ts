import { describe, expect, it } from 'vitest';
import { parseInvocation } from './args.ts';
import type { Environment } from './connection.ts';
import { UsageError } from './exit-codes.ts';

function environment(files: Record<string, string> = {}, env: NodeJS.ProcessEnv = {}): Environment {
  return {
    env: { EC2_RESTORE_ENDPOINT: 'http://api.test:8080/', EC2_RESTORE_TOKEN: 't0ken', ...env },
    cwd: '/work',
    readFile: (path) => {
      const text = files[path];
      if (text === undefined) throw Object.assign(new Error('no such file'), { code: 'ENOENT' });
      return text;
    },
  };
}

function usageError(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(UsageError);
    return (error as Error).message;
  }
  throw new Error('expected a usage error');
}

describe('parseInvocation', () => {
  it('builds the request from --file with every flag on top of it', () => {
    const file = JSON.stringify({
      restorePointId: 'rp-1',
      target: { accountId: '111111111111', region: 'eu-west-1', kmsKeyId: 'alias/a' },
      instance: { tags: { team: 'a', env: 'prod' } },
    });
    const invocation = parseInvocation(
      [
        'restore',
        '-f',
        'req.json',
        '--account',
        '222222222222',
        '--role-arn',
        'arn:aws:iam::222222222222:role/R',
        '--external-id',
        'x-1',
        '--kms-key',
        'alias/b',
        '--name',
        'web',
        '--instance-type',
        't3.small',
        '--subnet',
        'subnet-1',
        '--security-group',
        'sg-1',
        '--security-group',
        'sg-2',
        '--power-on',
        '--tag',
        'team=b',
        '--tag',
        'note=a=b',
        '--instance-id',
        'i-1',
        '--volume',
        '/dev/xvdf',
        '--data-path',
        'worker-volume',
        '--kms-grant',
        'auto',
        '--transfer-key',
        '--detach',
        '--idempotency-key',
        'k1',
      ],
      environment({ '/work/req.json': file }),
    );
    expect(invocation).toMatchObject({
      kind: 'command',
      command: 'restore',
      detach: true,
      idempotencyKey: 'k1',
      connection: { endpoint: 'http://api.test:8080', token: 't0ken' },
      request: {
        restorePointId: 'rp-1',
        target: {
          accountId: '222222222222',
          region: 'eu-west-1',
          roleArn: 'arn:aws:iam::222222222222:role/R',
          externalId: 'x-1',
          kmsKeyId: 'alias/b',
        },
        instance: {
          name: 'web',
          instanceType: 't3.small',
          subnetId: 'subnet-1',
          securityGroupIds: ['sg-1', 'sg-2'],
          powerOn: true,
          tags: { team: 'b', env: 'prod', note: 'a=b' },
          instanceId: 'i-1',
        },
        volumes: ['/dev/xvdf'],
        dataPath: 'worker-volume',
        kmsGrant: 'auto',
        transferKey: true,
      },
    });
  });

  it('names what is wrong on a bad command line', () => {
    const env = environment();
    expect(usageError(() => parseInvocation([], env))).toBe('no command given');
    expect(usageError(() => parseInvocation(['restart'], env))).toContain('unknown command "restart"');
    expect(usageError(() => parseInvocation(['watch'], env))).toContain('watch needs a restore id');
    expect(usageError(() => parseInvocation(['show', 'a', 'b'], env))).toContain('unexpected argument "b"');
    expect(usageError(() => parseInvocation(['list', '--detach'], env))).toContain(
      'list does not take --detach',
    );
    expect(usageError(() => parseInvocation(['list', '--limit', '0'], env))).toContain('--limit');
    expect(usageError(() => parseInvocation(['list', '--status', 'done'], env))).toContain(
      '--status must be one of',
    );
    expect(usageError(() => parseInvocation(['plan'], env))).toContain('--file request.json');
    expect(usageError(() => parseInvocation(['plan', '--tag', 'novalue'], env))).toContain('KEY=VALUE');
    expect(usageError(() => parseInvocation(['plan', '-f', 'missing.json'], env))).toContain('ENOENT');
    expect(
      usageError(() => parseInvocation(['plan', '-f', 'bad.json'], environment({ '/work/bad.json': '{' }))),
    ).toContain('not JSON');
    expect(usageError(() => parseInvocation(['list', '--endpoint', 'ftp://x'], env))).toContain('http://');
  });

  it('takes the endpoint and token from flags, then the environment, then the embedded default', () => {
    const embedded = JSON.stringify({ apiUrl: 'http://127.0.0.1:4000', token: 'demo-1' });
    const flags = parseInvocation(['list', '--endpoint', 'https://x', '--token', 'f'], environment());
    expect(flags).toMatchObject({ connection: { endpoint: 'https://x', token: 'f' } });
    const fromFile = parseInvocation(
      ['list'],
      environment(
        { '/work/.data/embedded.json': embedded },
        { EC2_RESTORE_ENDPOINT: undefined, EC2_RESTORE_TOKEN: undefined },
      ),
    );
    expect(fromFile).toMatchObject({ connection: { endpoint: 'http://127.0.0.1:4000', token: 'demo-1' } });
    const custom = parseInvocation(
      ['list'],
      environment(
        { '/data/embedded.json': embedded },
        { EC2_RESTORE_ENDPOINT: undefined, EC2_RESTORE_TOKEN: undefined, EC2_RESTORE_DATA_DIR: '/data' },
      ),
    );
    expect(custom).toMatchObject({ connection: { token: 'demo-1' } });
    expect(
      usageError(() => parseInvocation(['list'], environment({}, { EC2_RESTORE_TOKEN: undefined }))),
    ).toContain('no API token');
  });

  it('answers --help and --version without a connection', () => {
    expect(parseInvocation(['--help'], environment({}, { EC2_RESTORE_ENDPOINT: undefined }))).toEqual({
      kind: 'help',
    });
    expect(parseInvocation(['restore', '--help'], environment())).toEqual({
      kind: 'help',
      command: 'restore',
    });
    expect(parseInvocation(['help', 'watch'], environment())).toEqual({ kind: 'help', command: 'watch' });
    expect(parseInvocation(['--version'], environment())).toEqual({ kind: 'version' });
  });
});
