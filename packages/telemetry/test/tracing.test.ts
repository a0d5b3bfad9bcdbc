import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { redactedUrlAttributes } from '../src/redact';
import { tracingSettings } from '../src/settings';

// The built module, in a process of its own: Jest's module registry is not Node's require.cache.
const DIST = resolve(__dirname, '../dist/index.js');

const PROBE = `
const { startTracing, queueTelemetry } = require(${JSON.stringify(DIST)});
const tracing = startTracing('imagegen-probe');
const loaded = Object.keys(require.cache).filter((path) => path.includes('@opentelemetry'));
process.stdout.write(JSON.stringify({ enabled: tracing.enabled, telemetry: queueTelemetry() !== undefined, loaded }));
`;

interface Probe {
  enabled: boolean;
  telemetry: boolean;
  loaded: string[];
}

/** Loads the module and calls `startTracing` with only `env` (and PATH), as a service's main does. */
function probe(env: Record<string, string>): Probe {
  if (!existsSync(DIST)) throw new Error(`${DIST} is missing: run pnpm build first`);
  const out = execFileSync(process.execPath, ['-e', PROBE], { env: { PATH: process.env.PATH ?? '', ...env } });
  return JSON.parse(out.toString()) as Probe;
}

const ENDPOINT = { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:9' };
const sdkLoaded = (p: Probe) => p.loaded.some((path) => path.includes('@opentelemetry/sdk-node'));

describe('tracing: off unless an OTLP endpoint is configured', () => {
  test('when no OTEL variable is set, then tracing is off and no OpenTelemetry module is loaded at all', () => {
    const result = probe({});
    expect(result).toEqual({ enabled: false, telemetry: false, loaded: [] });
  });

  test('when an OTLP endpoint is set, then the SDK is loaded and BullMQ gets a telemetry option', () => {
    const result = probe(ENDPOINT);
    expect(result).toMatchObject({ enabled: true, telemetry: true });
    expect(sdkLoaded(result)).toBe(true);
  });

  test('when an endpoint is set but OTEL_SDK_DISABLED=true or OTEL_TRACES_EXPORTER=none, then the SDK is not loaded', () => {
    const offs: Record<string, string>[] = [{ OTEL_SDK_DISABLED: 'true' }, { OTEL_TRACES_EXPORTER: 'none' }];
    for (const off of offs) {
      const result = probe({ ...ENDPOINT, ...off });
      expect({ off, enabled: result.enabled, sdk: sdkLoaded(result) }).toEqual({ off, enabled: false, sdk: false });
    }
  });

  test('when only the traces endpoint is set, then tracing is on; OTEL_SERVICE_NAME wins over the default name', () => {
    const traces = { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://collector:4318/v1/traces' };
    expect(tracingSettings(traces, 'imagegen-api')).toEqual({ enabled: true, serviceName: 'imagegen-api' });
    expect(tracingSettings({ ...traces, OTEL_SERVICE_NAME: 'edge-api' }, 'imagegen-api').serviceName).toBe('edge-api');
    expect(tracingSettings({ OTEL_EXPORTER_OTLP_ENDPOINT: ' ' }, 'imagegen-api').enabled).toBe(false);
  });
});

describe('tracing: outgoing URLs', () => {
  test('when a URL has a query, then every value is replaced and names, path and origin are kept', () => {
    const attributes = redactedUrlAttributes('https://hooks.example.com', '/in?key=s3cret&key=again&user=42');
    expect(attributes).toEqual({
      'url.full': 'https://hooks.example.com/in?key=REDACTED&user=REDACTED',
      'url.query': '?key=REDACTED&user=REDACTED',
    });
  });

  test('when a URL has no query, then the instrumentation keeps its own attributes', () => {
    expect(redactedUrlAttributes('https://router.huggingface.co', '/hf-inference/models/a/b')).toEqual({});
  });
});
