import type { ApiClient } from '../support/api-client';
import { hf } from '../support/hf-emulator';
import { Scrape } from '../support/prometheus';
import { newUser, startSystem, type System } from '../support/system';
import { WebhookReceiver } from '../support/webhook-receiver';

/** Waits until `check` holds of a fresh scrape (the worker counts a job as it returns, just after the record ends). */
async function scrapeUntil(url: string, check: (scrape: Scrape) => boolean, timeoutMs = 10_000): Promise<Scrape> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const scrape = await Scrape.of(url);
    if (check(scrape) || Date.now() > until) return scrape;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describe('metrics: Prometheus on the API and the worker', () => {
  let system: System;
  let receiver: WebhookReceiver;
  let alice: ApiClient;
  const ids: string[] = [];

  beforeAll(async () => {
    system = await startSystem({
      apiEnv: { WEBHOOK_ALLOW_PRIVATE: 'true' },
      workerEnv: { WEBHOOK_ALLOW_PRIVATE: 'true' },
    });
    receiver = await WebhookReceiver.start();
    alice = await newUser(system, 'alice');
    system.emulator.script('test/metrics-cold', hf.coldStart('test/metrics-cold', 0.05), hf.png());
    system.emulator.always('test/metrics-credits', hf.outOfCredits());
    const cold = await alice.create({ prompt: 'a cold start', model: 'test/metrics-cold' });
    const broke = await alice.create({ prompt: 'no credits left', model: 'test/metrics-credits' });
    const hooked = await alice.create({ prompt: 'with a webhook', webhook_url: receiver.url('/metrics') });
    ids.push(cold.id, broke.id, hooked.id);
    for (const id of ids) await alice.waitFor(id);
    await receiver.waitFor('/metrics', 1);
  });

  afterAll(async () => {
    await receiver?.close();
    await system?.stop();
  });

  test('when generations complete, fail and send webhooks, then the worker counts each outcome, HF answer, wait and delivery', async () => {
    const metrics = `${system.worker.url.replace(/\/+$/, '')}/metrics`;
    const scrape = await scrapeUntil(
      metrics,
      (s) =>
        s.value('imagegen_jobs_total', { outcome: 'completed' }) === 2 &&
        s.value('imagegen_webhook_deliveries_total', { outcome: 'delivered' }) === 1,
    );

    expect(scrape.value('imagegen_jobs_total', { outcome: 'completed' })).toBe(2);
    expect(scrape.value('imagegen_jobs_total', { outcome: 'failed' })).toBe(1);
    expect(scrape.value('imagegen_job_duration_seconds_count', { outcome: 'completed' })).toBe(2);
    expect(scrape.value('imagegen_job_duration_seconds_count', { outcome: 'failed' })).toBe(1);
    // Answers by status code: the cold start's 503, the 402, and the two images.
    expect(scrape.value('imagegen_hf_request_duration_seconds_count', { code: '503' })).toBe(1);
    expect(scrape.value('imagegen_hf_request_duration_seconds_count', { code: '402' })).toBe(1);
    expect(scrape.value('imagegen_hf_request_duration_seconds_count', { code: '200' })).toBe(2);
    expect(scrape.value('imagegen_hf_retries_total', { reason: 'cold-start' })).toBe(1);
    expect(scrape.value('imagegen_hf_retry_wait_seconds_total', { reason: 'cold-start' })).toBeGreaterThan(0);
    expect(scrape.value('imagegen_hf_retries_total', { reason: 'rate-limited' })).toBeUndefined();
    expect(scrape.value('imagegen_webhook_deliveries_total', { outcome: 'delivered' })).toBe(1);
    // Node's own (prom-client's defaults).
    expect(scrape.value('process_cpu_user_seconds_total')).toBeGreaterThan(0);
    // The health check still answers on the same port.
    expect((await fetch(system.worker.url)).status).toBe(200);
  });

  test('when requests are answered, then the API times them by route pattern and status, never by raw path, and reports queue depths', async () => {
    await alice.get(ids[0]!);
    await alice.get('0123456789abcdef01234567');
    await fetch(`${system.api.url}/no-such-page`);
    const scrape = await Scrape.of(`${system.api.url}/metrics`);

    const http = 'imagegen_http_request_duration_seconds_count';
    expect(scrape.value(http, { method: 'POST', route: '/api/generations/', status_code: '202' })).toBe(3);
    expect(scrape.value(http, { method: 'GET', route: '/api/generations/:id', status_code: '404' })).toBe(1);
    expect(scrape.value(http, { method: 'GET', route: '/api/generations/:id', status_code: '200' })).toBeGreaterThan(0);
    expect(scrape.value(http, { route: 'unmatched', status_code: '404' })).toBe(1);
    for (const id of [...ids, '0123456789abcdef01234567']) expect(scrape.text).not.toContain(id);

    const depth = 'imagegen_queue_jobs';
    expect(scrape.value(depth, { queue: 'generations', state: 'completed' })).toBe(2);
    expect(scrape.value(depth, { queue: 'generations', state: 'failed' })).toBe(1);
    expect(scrape.value(depth, { queue: 'generations', state: 'waiting' })).toBe(0);
    expect(scrape.value(depth, { queue: 'webhooks', state: 'completed' })).toBe(1);
    expect(scrape.value(depth, { queue: 'generation-deadlines', state: 'waiting' })).toBe(0);
    expect(scrape.value('process_cpu_user_seconds_total')).toBeGreaterThan(0);
  });
});
