export * from './caller-account.ts';
export * from './classify-aws-error.ts';
export * from './client-factory.ts';
export * from './sdk-packages.ts';
