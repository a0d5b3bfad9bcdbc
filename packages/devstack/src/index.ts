export { startStack, withDatabase, type Stack } from './stack';
export { freePort, stopChild, waitFor } from './processes';
export { provideChromium } from './chromium';
