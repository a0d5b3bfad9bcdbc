import { Writable } from 'node:stream';
import pino from 'pino';
import { CommonEnv, ConfigError, parseEnv } from '@imagegen/shared';
import { databaseName } from '../src';
import { REDACT_PATHS } from '../src/logger';

function captureError(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  return undefined;
}

describe('shared configuration', () => {
  test('when MONGODB_URI lists a replica set, then it is accepted and its database is the one in the path', () => {
    const uri = 'mongodb://a.example:27017,b.example:27017/imagegen_prod?replicaSet=rs0';
    expect(parseEnv(CommonEnv, { MONGODB_URI: uri }).MONGODB_URI).toBe(uri);
    expect(databaseName(uri)).toBe('imagegen_prod');
    expect(databaseName('mongodb+srv://user:pw@cluster0.example.net/app?retryWrites=true')).toBe('app');
    expect(databaseName('mongodb://127.0.0.1:27017/')).toBe('imagegen');
    expect(databaseName('mongodb://127.0.0.1:27017')).toBe('imagegen');
  });

  test('when values are bad, then the error names each variable, and empty values count as unset', () => {
    const bad = { MONGODB_URI: 'http://x', SHUTDOWN_TIMEOUT_MS: '0', QUEUE_PREFIX: 'a b' };
    const err = captureError(() => parseEnv(CommonEnv, bad));
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).problems.map((p) => p.split(':')[0])).toEqual(
      expect.arrayContaining(['MONGODB_URI', 'SHUTDOWN_TIMEOUT_MS', 'QUEUE_PREFIX']),
    );
    expect(parseEnv(CommonEnv, { QUEUE_PREFIX: '' }).QUEUE_PREFIX).toBe('imagegen');
  });
});

describe('log redaction', () => {
  test('when an ioredis error carrying AUTH arguments is logged, then the credentials never reach the output', () => {
    let out = '';
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        out += chunk.toString();
        done();
      },
    });
    const logger = pino({ redact: { paths: REDACT_PATHS, censor: '[redacted]' } }, sink);
    const err = Object.assign(new Error('WRONGPASS'), { command: { name: 'auth', args: ['app', 's3cretPW'] } });
    logger.error({ err }, 'redis error');
    logger.info({ user: { password: 'hunter22' }, token: 'eyJ.secret' }, 'login');
    expect(out).toContain('WRONGPASS');
    expect(out).not.toContain('s3cretPW');
    expect(out).not.toContain('hunter22');
    expect(out).not.toContain('eyJ.secret');
  });
});
