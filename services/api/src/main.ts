// Tracing first: it patches http, express, ioredis, mongodb and pino as the imports below load them
// (the CommonJS output requires them in this order).
import { startTracing } from '@imagegen/telemetry';
const tracing = startTracing('imagegen-api');

import { runService } from '@imagegen/core';
import { loadApiConfig } from './config';
import { startApi } from './server';

runService('imagegen-api', () => loadApiConfig(), tracing.flushedOnStop(startApi));
