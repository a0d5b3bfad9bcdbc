import { ConfigError } from './env';
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
