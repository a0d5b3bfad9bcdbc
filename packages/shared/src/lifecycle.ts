import type { Logger } from './logger';

export interface Stoppable {
  stop(): Promise<void>;
}

/**
 * Starts a service and stops it on SIGTERM or SIGINT. Stopping drains work; if it takes longer
 * than `timeoutMs` the process exits anyway, so an orchestrator's kill never finds it hung.
 */
export async function runUntilSignal(logger: Logger, timeoutMs: number, start: () => Promise<Stoppable>): Promise<void> {
  const service = await start();
  let stopping = false;
  const shutdown = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal, timeoutMs }, 'shutting down');
    setTimeout(() => {
      logger.error({ timeoutMs }, 'shutdown took too long; exiting');
      process.exit(1);
    }, timeoutMs).unref();
    service.stop().then(
      () => {
        logger.info('stopped');
        process.exit(0);
      },
      (err: unknown) => {
        logger.error({ err }, 'error while stopping');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);
}
