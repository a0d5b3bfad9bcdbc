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

/** The one root logger of a service; modules take child loggers from it. */
export function createLogger(name: string, level: string): Logger {
  return pino({ name, level, redact: { paths: REDACT_PATHS, censor: '[redacted]' } });
}
