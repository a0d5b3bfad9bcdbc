import { randomBytes } from 'node:crypto';
import { Scrape } from '../support/prometheus';
import { startSystem, type System } from '../support/system';

const HTTP_COUNT = 'imagegen_http_request_duration_seconds_count';

/** The `route` label of every series of the API's HTTP histogram. */
function routeLabels(scrape: Scrape): Set<string> {
  const routes = new Set<string>();
  for (const line of scrape.text.split('\n')) {
    if (!line.startsWith(`${HTTP_COUNT}{`)) continue;
    const route = /(?:^|[{,])route="((?:[^"\\]|\\.)*)"/.exec(line.slice(HTTP_COUNT.length))?.[1];
    if (route !== undefined) routes.add(route);
  }
  return routes;
}

/** `text` with each letter upper- or lower-case at random: Express matches mount paths either way. */
const anyCase = (text: string) =>
  [...text].map((c) => (Math.random() < 0.5 ? c.toUpperCase() : c.toLowerCase())).join('');

describe('metrics: a flood of URL variants makes no new series', () => {
  let system: System;

  beforeAll(async () => {
    system = await startSystem();
  });

  afterAll(async () => {
    await system?.stop();
  });

  // The attack: 2,000 such requests took /metrics from 10.8 KB to 4.0 MB, each case variant of
  // `/api/generations` a series of its own (route label `req.baseUrl + path`).
  test('when 20 unauthenticated clients send 1,200 requests to case variants of /api/generations/:id/events and to random paths, then /metrics has one series per route pattern and one for all unmatched', async () => {
    const metrics = `${system.api.url}/metrics`;
    const before = await Scrape.of(metrics);
    const total = 1200;
    const seen = { events: new Map<number, number>(), unmatched: new Map<number, number>() };
    let sent = 0;
    const client = async () => {
      while (sent < total) {
        const i = sent++;
        const id = randomBytes(12).toString('hex');
        const kind = i % 2 === 0 ? 'events' : 'unmatched';
        const path =
          kind === 'events'
            ? `/${anyCase('api')}/${anyCase('generations')}/${id}/${anyCase('events')}`
            : `/${anyCase('no-such')}/${id}`;
        const res = await fetch(system.api.url + path);
        await res.body?.cancel();
        seen[kind].set(res.status, (seen[kind].get(res.status) ?? 0) + 1);
      }
    };
    await Promise.all(Array.from({ length: 20 }, client));
    const after = await Scrape.of(metrics);

    // Every variant of the events URL is counted under its one pattern, with the status it got.
    for (const [status, count] of seen.events) {
      const labels = { method: 'GET', route: '/api/generations/:id/events', status_code: String(status) };
      expect({ status, counted: after.value(HTTP_COUNT, labels) }).toEqual({ status, counted: count });
    }
    for (const [status, count] of seen.unmatched) {
      const labels = { method: 'GET', route: 'unmatched', status_code: String(status) };
      expect({ status, counted: after.value(HTTP_COUNT, labels) }).toEqual({ status, counted: count });
    }
    // Whatever the paths were, the only new series are of those two and of the first scrape itself.
    const expected = ['/api/generations/:id/events', 'unmatched', '/metrics'];
    const added = [...routeLabels(after)].filter((route) => !routeLabels(before).has(route));
    expect(added.filter((route) => !expected.includes(route))).toEqual([]);
    expect(after.text).not.toMatch(/route="[^"]*[A-Z]/);
    expect(after.text.length - before.text.length).toBeLessThan(20_000);
  });
});
