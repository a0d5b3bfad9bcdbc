/**
 * The contract between the API, the worker, the client and the playground: zod schemas of
 * requests, records, events, jobs and settings, with no server code, so that a browser bundle can
 * load it.
 */
export * from './auth';
export * from './durations';
export * from './envelope';
export * from './env';
export * from './generation';
export * from './generation-request';
export * from './generation-event';
export * from './image-variants';
export * from './health';
export * from './job-catalog';
export * from './queue-overview';
export * from './storage-settings';
export * from './redis-settings';
export * from './mongo-settings';
export * from './retention-settings';
export * from './styles';
export * from './webhook-request';
export * from './webhooks';
export * from './text';
export * from './usage';
export * from './user-quota';
export * from './providers';
export * from './provider-settings';
