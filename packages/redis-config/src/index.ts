export * from './redis-connection.ts';
export * from './redis-durability.ts';
