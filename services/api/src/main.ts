import { ConfigError, createLogger, runUntilSignal } from '@imagegen/shared';
import { loadApiConfig } from './config';
import { startApi } from './server';

async function main(): Promise<void> {
  const config = loadApiConfig();
  const logger = createLogger('imagegen-api', config.LOG_LEVEL);
  await runUntilSignal(logger, config.SHUTDOWN_TIMEOUT_MS, () => startApi(config, logger));
}

main().catch((err: unknown) => {
  process.stderr.write(`imagegen-api: ${err instanceof ConfigError ? err.message : String((err as Error)?.stack ?? err)}\n`);
  process.exit(1);
});
