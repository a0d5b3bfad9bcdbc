/**
 * The API's contract alone: the zod schemas of requests, answers and events, with no server code.
 * Clients (`@imagegen/client`, the playground) import this, so they load neither Redis nor MongoDB
 * drivers, and can be bundled for a browser.
 */
export * from './auth';
export * from './envelope';
export * from './generation';
export { GenerationEvent, StreamedGeneration } from './generation-events';
export * from './health';
export * from './styles';
export * from './webhook-request';
export * from './webhooks';
export * from './providers';
