import { ExpressInstrumentation } from '@opentelemetry/instrumentation-express';
import { HttpInstrumentation } from '@opentelemetry/instrumentation-http';
import { IORedisInstrumentation } from '@opentelemetry/instrumentation-ioredis';
import { MongoDBInstrumentation } from '@opentelemetry/instrumentation-mongodb';
import { PinoInstrumentation } from '@opentelemetry/instrumentation-pino';
import { UndiciInstrumentation } from '@opentelemetry/instrumentation-undici';
import { NodeSDK } from '@opentelemetry/sdk-node';
import { redactedUrlAttributes } from './redact';

/** Health checks (the worker's is `/`): every few seconds, from orchestrators, with nothing to see. */
const PROBE_PATHS = new Set(['/', '/healthz', '/readyz']);

/**
 * The OpenTelemetry SDK with the instrumentations of what the services use. The exporter, its
 * endpoint and protocol, batching and sampling come from the standard OTEL_* variables.
 */
export function startSdk(serviceName: string): NodeSDK {
  const sdk = new NodeSDK({
    serviceName,
    // Traces only: metrics are Prometheus's (GET /metrics) and logs are JSON lines on stdout.
    metricReaders: [],
    logRecordProcessors: [],
    instrumentations: [
      new HttpInstrumentation({
        ignoreIncomingRequestHook: (req) => req.method === 'GET' && PROBE_PATHS.has(req.url?.split('?', 1)[0] ?? ''),
        // The API's one secret in a URL: the stream token of GET /api/generations/:id/events?token=.
        redactedQueryParamsServer: ['token'],
      }),
      new ExpressInstrumentation(),
      new UndiciInstrumentation({ startSpanHook: (request) => redactedUrlAttributes(request.origin, request.path) }),
      // Command names only: BullMQ's scripts carry job data, and our keys user ids.
      new IORedisInstrumentation({ dbStatementSerializer: (command) => command }),
      // Records each command's shape with every value replaced by `?` (its default).
      new MongoDBInstrumentation(),
      // Adds trace_id and span_id to log lines; the lines themselves stay on stdout.
      new PinoInstrumentation({ disableLogSending: true }),
    ],
  });
  sdk.start();
  return sdk;
}
