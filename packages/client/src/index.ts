export * from './client';
export * from './errors';
export { describeEvent } from './progress';
export { readEvents, type ServerSentEvent } from './sse';
export type { RequestOptions, TransportOptions } from './transport';
export type * from '@imagegen/shared';
