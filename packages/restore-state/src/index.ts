export {
  type AwsCallScopeSource,
  type DirectCallReporting,
  type InstrumentableClient,
  recordAwsCalls,
} from './aws-call-metrics.ts';
export { IllegalTransitionError, RestoreExistsError, RestoreNotFoundError } from './errors.ts';
export {
  type HubSubscriber,
  RestoreEventHub,
  type RestoreEventHubOptions,
} from './restore-event-hub.ts';
export {
  type AwsCallScope,
  type CreateOutcome,
  type IdempotencyMatch,
  type IdempotencyOptions,
  type ListOptions,
  RestoreStore,
  type RestoreStoreOptions,
  type SharedMetrics,
  type SubscribeOptions,
} from './restore-store.ts';
export { canTransition, isTerminal } from './transitions.ts';
export * from './types.ts';
