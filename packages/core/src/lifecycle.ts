import { ConfigError } from '@imagegen/shared';
import { createLogger, type LogFormat, type Logger } from './logger';

export interface Stoppable {
  stop(): Promise<void>;
}

interface ServiceConfig {
  LOG_LEVEL: string;
  LOG_FORMAT: LogFormat;
  SHUTDOWN_TIMEOUT_MS: number;
}

/**
 * A service's `main`: parse config once (a bad value stops the process with a message naming it),
 * start, and on SIGTERM or SIGINT stop. Stopping drains work; if it takes longer than
 * SHUTDOWN_TIMEOUT_MS the process exits anyway, so an orchestrator's kill never finds it hung.
 */
export function runService<C extends ServiceConfig>(
  name: string,
  loadConfig: () => C,
  start: (config: C, logger: Logger) => Promise<Stoppable>,
): void {
  let config: C;
  try {
    config = loadConfig();
  } catch (err) {
    process.stderr.write(`${name}: ${err instanceof ConfigError ? err.message : String(err)}\n`);
    process.exit(1);
  }
  const logger = createLogger(name, config.LOG_LEVEL, config.LOG_FORMAT);
  start(config, logger).then(
    (service) => stopOnSignal(service, logger, config.SHUTDOWN_TIMEOUT_MS),
    (err: unknown) => {
      logger.fatal({ err }, 'failed to start');
      process.exit(1);
    },
  );
}

function stopOnSignal(service: Stoppable, logger: Logger, timeoutMs: number): void {
  let stopping = false;
  /** Stops once, within `timeoutMs`, then exits with `code` (or 1 if the stop itself failed). */
  const stop = (code: number) => {
    if (stopping) return;
    stopping = true;
    setTimeout(() => {
      logger.error({ timeoutMs }, 'shutdown took too long; exiting');
      process.exit(1);
    }, timeoutMs).unref();
    service.stop().then(
      () => {
        logger.info('stopped');
        process.exit(code);
      },
      (err: unknown) => {
        logger.error({ err }, 'error while stopping');
        process.exit(1);
      },
    );
  };
  const onSignal = (signal: NodeJS.Signals) => {
    if (!stopping) logger.info({ signal, timeoutMs }, 'shutting down');
    stop(0);
  };
  // A bug that escaped every handler leaves the process in a state nobody planned for: it is
  // logged as fatal (through the logger, so it reaches the same place as everything else) and the
  // service stops as on SIGTERM, handing its work back, but exits with 1 so that it is restarted.
  const onBug = (kind: string) => (err: unknown) => {
    logger.fatal({ err }, `${kind}; stopping`);
    stop(1);
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  process.on('uncaughtException', onBug('uncaught exception'));
  process.on('unhandledRejection', onBug('unhandled promise rejection'));
}
