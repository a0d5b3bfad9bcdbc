export { startStack, withDatabase, type Stack } from './stack';
export { freePort, stopChild, waitFor } from './processes';
export { provideChromium } from './chromium';
export { startRedisServer } from './redis';
export { startFerretDb } from './mongo';
export { providePostgresDatabase, type PostgresDatabase } from './postgres';
export { provideS3, type ProvidedS3, type S3Access } from './s3';
export type { ProvidedService } from './service';
