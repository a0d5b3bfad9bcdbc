import { setTimeout as sleep } from 'node:timers/promises';
import type { Telemetry } from 'bullmq';
import { tracingSettings } from './settings';

/**
 * What a service's start resolves to, by its shape alone: telemetry loads first and depends on no
 * package of ours, so it cannot import core's `Stoppable`, which any such service satisfies.
 */
type StartedService = { stop(): Promise<void> };

export interface Tracing {
  readonly enabled: boolean;
  /** `start`, with the spans still buffered sent once the service it starts has stopped. */
  flushedOnStop<A extends unknown[]>(
    start: (...args: A) => Promise<StartedService>,
  ): (...args: A) => Promise<StartedService>;
}

/**
 * How long the last spans may take on stop: a collector that is away must not hold the stop until
 * SHUTDOWN_TIMEOUT_MS forces the exit.
 */
const FLUSH_BOUND_MS = 3_000;

let telemetry: Telemetry | undefined;

/**
 * Starts tracing when the standard OTEL_* variables configure it (see `tracingSettings`); otherwise
 * loads nothing of OpenTelemetry. Call it before anything loads http, express, ioredis, mongodb,
 * pino or undici: the instrumentations patch those modules as they are first required.
 */
export function startTracing(defaultServiceName: string): Tracing {
  const settings = tracingSettings(process.env, defaultServiceName);
  if (!settings.enabled) return { enabled: false, flushedOnStop: (start) => start };
  // Required here rather than imported, so that with tracing off none of the SDK is loaded.
  const { startSdk } = require('./sdk') as typeof import('./sdk');
  const { BullMQOtel } = require('bullmq-otel') as typeof import('bullmq-otel');
  const sdk = startSdk(settings.serviceName);
  telemetry = new BullMQOtel();
  const flush = async () => {
    // Export failures are the SDK's to report (OTEL_LOG_LEVEL); they must not fail the stop. The
    // bound's timer is unreferenced, so once the flush is done it holds nothing open.
    const bound = sleep(FLUSH_BOUND_MS, undefined, { ref: false });
    await Promise.race([sdk.shutdown().catch(() => undefined), bound]);
  };
  return {
    enabled: true,
    flushedOnStop:
      (start) =>
      async (...args) => {
        const service = await start(...args);
        return {
          async stop() {
            try {
              await service.stop();
            } finally {
              await flush();
            }
          },
        };
      },
  };
}

/**
 * BullMQ's `telemetry` option for a Queue or Worker: a job then carries its producer's trace
 * context, and the worker's spans join that trace. Undefined while tracing is off.
 */
export function queueTelemetry(): Telemetry | undefined {
  return telemetry;
}
