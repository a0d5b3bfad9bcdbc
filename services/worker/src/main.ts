// Tracing first: it patches http, ioredis, mongodb, pino and undici as the imports below load them
// (the CommonJS output requires them in this order).
import { startTracing } from '@imagegen/telemetry';
const tracing = startTracing('imagegen-worker');

import { runService } from '@imagegen/core';
import { loadWorkerConfig } from './config';
import { startWorker } from './worker';

runService('imagegen-worker', () => loadWorkerConfig(), tracing.flushedOnStop(startWorker));
