import pino from 'pino';

/** Paths that may carry secrets; pino replaces them before a line is written. */
const REDACT_PATHS = [
  'password',
  '*.password',
  'token',
  '*.token',
  'secret',
  '*.secret',
  'req.headers.authorization',
  'req.headers.cookie',
  'headers.authorization',
  'config.JWT_SECRET',
  'config.HF_TOKEN',
];

export type Logger = pino.Logger;

/** The one root logger of a service; modules take child loggers from it. */
export function createLogger(name: string, level: string): Logger {
  return pino({ name, level, redact: { paths: REDACT_PATHS, censor: '[redacted]' } });
}
