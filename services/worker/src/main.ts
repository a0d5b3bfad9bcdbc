import { ConfigError, createLogger, runUntilSignal } from '@imagegen/shared';
import { loadWorkerConfig } from './config';
import { startWorker } from './worker';

async function main(): Promise<void> {
  const config = loadWorkerConfig();
  const logger = createLogger('imagegen-worker', config.LOG_LEVEL);
  await runUntilSignal(logger, config.SHUTDOWN_TIMEOUT_MS, () => startWorker(config, logger));
}

main().catch((err: unknown) => {
  process.stderr.write(`imagegen-worker: ${err instanceof ConfigError ? err.message : String((err as Error)?.stack ?? err)}\n`);
  process.exit(1);
});
