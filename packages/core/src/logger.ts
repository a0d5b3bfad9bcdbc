import pino from 'pino';

/** Paths that may carry secrets; pino replaces them before a line is written. */
export const REDACT_PATHS = [
  'password',
  '*.password',
  'token',
  '*.token',
  'secret',
  '*.secret',
  // ioredis puts the failed command's arguments on its errors, and AUTH's are the credentials.
  'err.command.args',
  '*.err.command.args',
];

export type Logger = pino.Logger;

export type LogFormat = 'json' | 'pretty';

/**
 * The one root logger of a service; modules take child loggers from it. `pretty` formats in a
 * worker thread (pino-pretty), for people reading a terminal; redaction happens before either.
 */
export function createLogger(name: string, level: string, format: LogFormat = 'json'): Logger {
  const options: pino.LoggerOptions = { name, level, redact: { paths: REDACT_PATHS, censor: '[redacted]' } };
  if (format === 'json') return pino(options);
  // Resolved here: pino loads a transport from its own package, which cannot see ours.
  const target = require.resolve('pino-pretty');
  return pino({
    ...options,
    transport: { target, options: { translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' } },
  });
}
