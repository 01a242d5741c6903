export * from './find-leftovers.ts';
export * from './periodic-sweep.ts';
export * from './sweep-config.ts';
export * from './sweep-leftovers.ts';
