/** What the API and the worker share on the server: MongoDB and Redis state, logging, and the service runner. */
export * from './connections';
export * from './db';
export * from './generation-canceller';
export * from './generation-events';
export * from './generation-lifecycle';
export * from './generation-scheduling';
export * from './generation-view';
export * from './in-flight';
export * from './lifecycle';
export * from './logger';
export * from './outage';
export * from './provider-mapping';
export * from './provider-plan';
export * from './redis-script';
export * from './run-times';
export * from './webhook-notifier';
export * from './webhook-target';
