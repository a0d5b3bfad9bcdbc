export * from './client';
export type * from './client-options';
export * from './errors';
export * from './image';
export { describeEvent } from './progress';
export { readEvents, type ServerSentEvent } from './sse';
export type { RequestOptions, TransportOptions } from './transport';
export type * from '@imagegen/shared';
