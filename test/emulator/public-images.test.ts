import { DescribeImagesCommand } from '@aws-sdk/client-ec2';
import { type Parameter, paginateGetParametersByPath } from '@aws-sdk/client-ssm';
import { describe, expect, it } from 'vitest';
import { newAccount } from '../support/index.ts';

// AWS's public base images (packages/local-aws/emulator/ec2restore_emulator/public_images.py): SSM
// public parameters name the latest Windows images
// (https://docs.aws.amazon.com/systems-manager/latest/userguide/parameter-store-public-parameters-ami.html),
// catalogue images bill and boot as AWS documents
// (https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/billing-info-fields.html). RegisterImage's tags
// and RunInstances' mappings over the image's: images-and-launches.test.ts.

describe('public base images', () => {
  it('ami-windows-latest names Windows images: the base edition bills Windows, SQL Server editions their own', async () => {
    const account = newAccount();
    const Parameters: Parameter[] = [];
    const input = { Path: '/aws/service/ami-windows-latest', Recursive: true };
    for await (const page of paginateGetParametersByPath({ client: account.aws.ssm }, input)) {
      Parameters.push(...(page.Parameters ?? []));
    }
    const byName = new Map(Parameters.map((p) => [p.Name?.split('/').at(-1), p.Value]));
    expect(byName.has('Windows_Server-2016-English-Full-Base')).toBe(true);
    const base = byName.get('Windows_Server-2016-English-Full-Base') ?? '';
    const sql = byName.get('Windows_Server-2016-English-Full-SQL_2017_Standard') ?? '';
    const { Images = [] } = await account.aws.ec2.send(new DescribeImagesCommand({ ImageIds: [base, sql] }));
    const image = (id: string) => Images.find((i) => i.ImageId === id);
    expect(image(base)).toMatchObject({
      PlatformDetails: 'Windows',
      UsageOperation: 'RunInstances:0002',
      BootMode: 'legacy-bios',
    });
    expect(image(sql)).toMatchObject({
      PlatformDetails: 'Windows with SQL Server Standard',
      UsageOperation: 'RunInstances:0006',
    });
    account.aws.destroy();
  });
});
