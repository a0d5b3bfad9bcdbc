import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ApiSuccess, Generation } from '@imagegen/shared';
import type { ApiClient } from '../support/api-client';
import { logRecords } from '../support/services';
import { SseClient } from '../support/sse';
import { FAST_HF, newUser, startSystem, type System } from '../support/system';

/** OTLP/JSON span kinds (the protobuf enum's numbers). */
const KIND = { server: 2, client: 3, producer: 4, consumer: 5 } as const;

interface OtlpValue {
  stringValue?: string;
  intValue?: string | number;
  boolValue?: boolean;
  doubleValue?: number;
  arrayValue?: { values: OtlpValue[] };
}
interface OtlpAttribute {
  key: string;
  value: OtlpValue;
}
interface OtlpExport {
  resourceSpans?: {
    resource?: { attributes?: OtlpAttribute[] };
    scopeSpans?: {
      spans?: {
        traceId: string;
        spanId: string;
        parentSpanId?: string;
        name: string;
        kind: number;
        attributes?: OtlpAttribute[];
      }[];
    }[];
  }[];
}

/** One received span, with its service and attributes flattened. */
interface Span {
  service: string;
  traceId: string;
  spanId: string;
  parentSpanId: string | undefined;
  name: string;
  kind: number;
  attributes: Record<string, unknown>;
}

const valueOf = (v: OtlpValue): unknown =>
  v.stringValue ?? v.intValue ?? v.boolValue ?? v.doubleValue ?? v.arrayValue?.values.map(valueOf);
const attributesOf = (list: OtlpAttribute[] = []) => Object.fromEntries(list.map((a) => [a.key, valueOf(a.value)]));

/** A collector's OTLP/HTTP traces endpoint: keeps every request it gets, raw and parsed. */
class OtlpReceiver {
  /** Every request, whatever its path, as `METHOD path` and its body. */
  readonly requests: { target: string; body: string }[] = [];

  private constructor(private readonly server: Server) {}

  static async start(): Promise<OtlpReceiver> {
    const server = createServer();
    const receiver = new OtlpReceiver(server);
    server.on('request', (req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => (body += chunk.toString()));
      req.on('end', () => {
        receiver.requests.push({ target: `${req.method} ${req.url}`, body });
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return receiver;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  spans(): Span[] {
    return this.requests.flatMap(({ body }) =>
      ((JSON.parse(body) as OtlpExport).resourceSpans ?? []).flatMap((rs) => {
        const service = String(attributesOf(rs.resource?.attributes)['service.name']);
        return (rs.scopeSpans ?? []).flatMap((ss) =>
          (ss.spans ?? []).map((s) => ({
            service,
            traceId: s.traceId,
            spanId: s.spanId,
            parentSpanId: s.parentSpanId || undefined,
            name: s.name,
            kind: s.kind,
            attributes: attributesOf(s.attributes),
          })),
        );
      }),
    );
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

/** Settings that point both services at `receiver`. */
const otelEnv = (receiver: OtlpReceiver) => ({
  OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
  OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/json',
  // Longer than the test: every span must reach the receiver through the flush on stop.
  OTEL_BSP_SCHEDULE_DELAY: '600000',
  // The worker logs `generation done` at info.
  LOG_LEVEL: 'info',
});

/** `span` and its ancestors among `spans`, nearest first. */
function lineage(span: Span, spans: Span[]): Span[] {
  const byId = new Map(spans.map((s) => [s.spanId, s]));
  const chain = [span];
  for (let parent = byId.get(span.parentSpanId ?? ''); parent; parent = byId.get(parent.parentSpanId ?? ''))
    chain.push(parent);
  return chain;
}

/** The one span matching `where`, with a message naming what was received if there is not exactly one. */
function only(spans: Span[], what: string, where: (s: Span) => boolean): Span {
  const found = spans.filter(where);
  if (found.length !== 1) {
    const seen = spans.map((s) => `${s.service} ${s.kind} ${s.name}`).join('\n');
    throw new Error(`expected one ${what}, found ${found.length}; received:\n${seen}`);
  }
  return found[0]!;
}

describe('tracing: one trace from the API through the queue to the worker and Hugging Face', () => {
  let receiver: OtlpReceiver;
  let system: System | undefined;
  let alice: ApiClient;
  let generation: Generation;
  let streamToken: string;
  let workerOutput: string;
  let hfBaseUrl: string;

  beforeAll(async () => {
    receiver = await OtlpReceiver.start();
    system = await startSystem({ apiEnv: otelEnv(receiver), workerEnv: otelEnv(receiver) });
    hfBaseUrl = system.emulator.baseUrl;
    try {
      alice = await newUser(system, 'alice');
      generation = await alice.create({ prompt: 'a traced lighthouse', model: 'test/traced' });
      expect((await alice.waitFor(generation.id)).status).toBe('completed');
      // The stream token travels in the URL's query, which the API's server span records.
      const reply = await alice.request<ApiSuccess<{ token: string }>>(
        'POST',
        `/api/generations/${generation.id}/events/token`,
      );
      streamToken = reply.body.data.token;
      const stream = await SseClient.open(
        `${system.api.url}/api/generations/${generation.id}/events?token=${encodeURIComponent(streamToken)}`,
      );
      expect(stream.status).toBe(200);
      await stream.ended();
    } finally {
      // Stopping flushes the spans still buffered (the schedule delay outlasts the test).
      await system.stop();
      workerOutput = system.worker.output();
    }
  });

  afterAll(async () => {
    await receiver?.close();
  });

  test('when a generation runs, then the API request, the job it queued, its processing and the Hugging Face call share one trace with parent links', () => {
    const spans = receiver.spans();
    const api = spans.filter((s) => s.service === 'imagegen-api');
    const worker = spans.filter((s) => s.service === 'imagegen-worker');

    const create = only(
      api,
      'POST /api/generations server span',
      (s) =>
        s.kind === KIND.server &&
        s.attributes['http.request.method'] === 'POST' &&
        s.attributes['url.path'] === '/api/generations/',
    );
    const produce = only(
      api,
      'generation.create producer span',
      (s) => s.kind === KIND.producer && s.name.endsWith('.generation.create'),
    );
    const consume = only(
      worker,
      'generations consumer span',
      (s) => s.kind === KIND.consumer && s.parentSpanId === produce.spanId,
    );
    const hfCall = only(
      worker,
      'Hugging Face client span',
      (s) => s.kind === KIND.client && String(s.attributes['url.full']).startsWith(hfBaseUrl),
    );

    for (const span of [produce, consume, hfCall])
      expect({ name: span.name, traceId: span.traceId }).toEqual({ name: span.name, traceId: create.traceId });
    expect(lineage(produce, api)).toContain(create);
    expect(lineage(hfCall, worker)).toContain(consume);
    expect(create.attributes['http.route']).toBe('/api/generations');
    expect(hfCall.attributes['http.response.status_code']).toBe(200);
    expect(new Set(spans.map((s) => s.service))).toEqual(new Set(['imagegen-api', 'imagegen-worker']));

    // The worker's log line for the job carries the trace.
    const done = logRecords(workerOutput).find((r) => r.msg === 'generation done');
    expect(done).toMatchObject({ trace_id: create.traceId });
  });

  test('when requests carry a bearer token, a stream token in the URL and the HF token, then none of them is exported', () => {
    const exported = receiver.requests.map((r) => r.body).join('\n');
    // Each secret was there to leak: the worker sent the HF token, the stream token's request was traced.
    expect(system!.emulator.requestsFor('test/traced')[0]?.authorization).toBe(`Bearer ${FAST_HF.HF_TOKEN}`);
    const events = only(
      receiver.spans(),
      'events server span',
      (s) => s.kind === KIND.server && String(s.attributes['url.path']).endsWith('/events'),
    );
    expect(events.attributes['url.query']).toBe('token=REDACTED');

    for (const [name, secret] of Object.entries({ bearer: alice.token!, stream: streamToken, hf: FAST_HF.HF_TOKEN }))
      expect({ name, exported: exported.includes(secret) }).toEqual({ name, exported: false });
    expect(exported).not.toMatch(/authorization/i);
  });
});

describe('tracing: off', () => {
  let receiver: OtlpReceiver;
  let workerOutput: string;

  beforeAll(async () => {
    receiver = await OtlpReceiver.start();
    // The endpoint is set, so only OTEL_SDK_DISABLED stands between the services and the receiver.
    const env = { ...otelEnv(receiver), OTEL_SDK_DISABLED: 'true' };
    const system = await startSystem({ apiEnv: env, workerEnv: env });
    try {
      const bob = await newUser(system, 'bob');
      const generation = await bob.create({ prompt: 'an untraced lighthouse' });
      expect((await bob.waitFor(generation.id)).status).toBe('completed');
    } finally {
      await system.stop();
      workerOutput = system.worker.output();
    }
  });

  afterAll(async () => {
    await receiver?.close();
  });

  test('when OTEL_SDK_DISABLED=true, then a generation completes, nothing reaches the receiver and logs carry no trace ids', () => {
    expect(receiver.requests).toEqual([]);
    const done = logRecords(workerOutput).find((r) => r.msg === 'generation done');
    expect(done).toBeDefined();
    expect(done).not.toHaveProperty('trace_id');
  });
});
