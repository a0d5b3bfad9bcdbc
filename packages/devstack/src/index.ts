export { startStack, withDatabase, type Stack } from './stack';
export { freePort, stopChild, waitFor } from './processes';
export { provideChromium } from './chromium';
export { startRedisServer } from './redis';
export type { ProvidedService } from './service';
