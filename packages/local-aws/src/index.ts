export * from './accounts.ts';
export * from './emulator.ts';
export * from './local-stack.ts';
export * from './modelled-delays.ts';
export { isNotVisibleYet, onceVisible } from './new-ids.ts';
export { findFreePort, isPortOpen, stopProcess } from './process-utils.ts';
export * from './redis.ts';
